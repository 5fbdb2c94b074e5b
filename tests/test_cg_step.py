"""csr_cg_step, the fused cg iteration linalg.cg takes on CPU streams, against the step of
MLX ops it replaces (linalg._iterative._cg_step) and its own rules: a state that has
stopped passes unchanged, in place and copied give the same, bad input is refused."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse import _ext
from mlx_sparse.linalg import _iterative
from conftest import assert_close

pytestmark = pytest.mark.skipif(mx.default_device() != mx.cpu, reason="a CPU-only primitive")


def _spd(n, seed):
    S = sp.random_array((n, n), density=0.1, format="csr", rng=np.random.default_rng(seed))
    return (S @ S.T + n * sp.eye_array(n)).tocsr()


def _pack(x, r, p, rz, go, it, dtype):
    tail = mx.array([rz, go, it], dtype=dtype)
    return mx.concatenate([x, r, p, mx.zeros_like(x), tail])


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
def test_steps_match_the_steps_of_mlx_ops(dtype):
    n = 60
    S = _spd(n, 1)
    A = ms.csr_array(S, dtype=dtype)
    b = mx.array(np.random.default_rng(2).standard_normal(n), dtype=dtype)
    tol2 = mx.array(1e-30, dtype=dtype)
    ref = _iterative._cg_init(A.__matmul__, None, b, mx.zeros_like(b), tol2)
    fused = _iterative._fused_cg_step(A, dtype)
    s = ref
    for _ in range(8):
        ref = _iterative._cg_step(A.__matmul__, None, ref, tol2)
        s = fused(None, None, s, tol2)
        mx.eval(s)
        for key in ("x", "r", "p", "rz"):
            assert_close(s[key], ref[key], dtype, rtol=1e-4 if dtype == mx.float32 else 1e-10)
        assert bool(s["go"].item()) == bool(ref["go"].item())
        assert int(s["it"].item()) == int(ref["it"].item())


def test_a_stopped_state_passes_unchanged_and_in_place_equals_copied():
    n = 40
    S = _spd(n, 3)
    A = ms.csr_array(S, dtype=mx.float64)
    rng = np.random.default_rng(4)
    x, r = (mx.array(rng.standard_normal(n)) for _ in range(2))
    stopped = _pack(x, r, r, 1.5, 0, 7, mx.float64)
    out = _ext.csr_cg_step(A.indptr, A.indices, A.data, stopped, mx.array(0.0, mx.float64))
    np.testing.assert_array_equal(np.array(out), np.array(stopped))
    running = _pack(x, r, r, float(np.dot(np.array(r), np.array(r))), 1, 0, mx.float64)
    mx.eval(running)
    kept = _ext.csr_cg_step(A.indptr, A.indices, A.data, running, mx.array(0.0, mx.float64))
    mx.eval(kept)  # `running` stays referenced here: a copy
    twice_copied = _ext.csr_cg_step(A.indptr, A.indices, A.data, kept, mx.array(0.0, mx.float64))
    mx.eval(twice_copied)
    chained = _ext.csr_cg_step(A.indptr, A.indices, A.data,
                               _ext.csr_cg_step(A.indptr, A.indices, A.data, running * 1,
                                                mx.array(0.0, mx.float64)),
                               mx.array(0.0, mx.float64))  # the inner state handed over
    np.testing.assert_array_equal(np.array(chained), np.array(twice_copied))
    assert float(twice_copied[4 * n + 2].item()) == 2.0


def test_bad_input_names_the_op():
    A = ms.csr_array(_spd(5, 5), dtype=mx.float32)
    with pytest.raises(ValueError, match=r"\[csr_cg_step\] takes a square"):
        _ext.csr_cg_step(A.indptr, A.indices, A.data, mx.zeros((10,)), mx.array(0.0))
    with pytest.raises(ValueError, match=r"\[csr_cg_step\] takes a square"):
        _ext.csr_cg_step(A.indptr, A.indices, A.data.astype(mx.float16), mx.zeros((23,)),
                         mx.array(0.0))


def test_cg_takes_the_fused_step_and_converges():
    """linalg.cg on the CPU without M runs csr_cg_step (its result matches scipy's)."""
    S = _spd(80, 6)
    b = np.random.default_rng(7).standard_normal(80)
    x, info = ms.linalg.cg(ms.csr_array(S, dtype=mx.float64), mx.array(b, dtype=mx.float64),
                           rtol=1e-10)
    assert info == 0
    np.testing.assert_allclose(np.array(x), sp.linalg.spsolve(S.tocsc(), b), rtol=1e-8)
