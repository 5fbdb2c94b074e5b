"""The multithreaded kernel paths (row blocks, column splits, private accumulators), with
problems large enough to leave the serial fallback, against scipy, for several pool sizes."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms


@pytest.fixture(params=[1, 2, 3, 5])
def threads(request):
    before = ms.num_threads()
    ms.set_num_threads(request.param)
    yield request.param
    ms.set_num_threads(before)


def _matrix(m, n, density, seed, long_row=False):
    S = sp.random(m, n, density=density, format="lil", dtype=np.float64, random_state=seed)
    if long_row:  # one row holding most entries: the balancing must not split it wrongly
        S[m // 3, :] = np.random.default_rng(seed).uniform(-1, 1, n)
    return sp.csr_array(S.tocsr().astype(np.float32))


def _close(ours, ref, rtol=1e-4):
    ref = np.asarray(ref, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), ref, rtol=rtol,
                               atol=rtol * max(1.0, np.abs(ref).max(initial=0)))


@pytest.mark.parametrize("long_row", [False, True])
@pytest.mark.parametrize("k", [1, 3, 8, 17, 40, 130])
def test_products_parallel(threads, k, long_row):
    S = _matrix(1201, 977, 0.04, seed=k, long_row=long_row)  # > 32k entries: parallel
    A = ms.csr_array(S)
    rng = np.random.default_rng(k)
    B = rng.standard_normal((977, k)).astype(np.float32)
    G = rng.standard_normal((1201, k)).astype(np.float32)
    if k == 1:
        _close(A @ mx.array(B[:, 0]), S @ B[:, 0])
        _close(G[:, 0] @ A, G[:, 0] @ S)  # transposed spmv: private accumulators
    _close(A @ mx.array(B), S @ B)
    _close(ms.matmul(mx.array(G.T), A), G.T @ S)  # transposed spmm: column split or private
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    _close(ms.sddmm(A, mx.array(G), mx.array(B)).data, (G[rows] * B[S.indices]).sum(1))


def test_batched_and_dense_parallel(threads):
    S = _matrix(700, 650, 0.05, seed=3)
    A = ms.csr_array(S)
    Bb = np.random.default_rng(4).standard_normal((3, 650, 24)).astype(np.float32)
    _close(A @ mx.array(Bb), np.stack([S @ b for b in Bb]))
    _close(A.todense(), S.toarray())


def test_spgemm_parallel(threads):
    S = _matrix(900, 800, 0.01, seed=5)
    T = _matrix(800, 700, 0.01, seed=6)
    C = ms.csr_array(S) @ ms.csr_array(T)
    assert C.has_canonical_format
    _close(C.toarray(), (S @ T).toarray())


def test_grad_parallel(threads):
    S = _matrix(1100, 900, 0.02, seed=7)
    A = ms.csr_array(S)
    B = np.random.default_rng(8).standard_normal((900, 33)).astype(np.float32)
    W = np.random.default_rng(9).standard_normal((1100, 33)).astype(np.float32)
    loss = lambda v, b: (mx.array(W) * (A.with_data(v) @ b)).sum()
    gv, gb = mx.grad(loss, argnums=(0, 1))(A.data, mx.array(B))
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    _close(gb, S.T @ W)
    _close(gv, (W[rows] * B[S.indices]).sum(1))


# ---- the pool's size: checked, never silently changed

def _max_threads():
    import os
    return max(256, 8 * (os.cpu_count() or 1))


@pytest.mark.parametrize("n", [0, -1, -(2**31)])
def test_set_num_threads_rejects_below_one(n):
    before = ms.num_threads()
    with pytest.raises(ValueError, match=r"\[set_num_threads\] n must be from 1 to"):
        ms.set_num_threads(n)
    assert ms.num_threads() == before


def test_set_num_threads_rejects_above_cap():
    before = ms.num_threads()
    with pytest.raises(ValueError, match=r"\[set_num_threads\].*but is 100000"):
        ms.set_num_threads(100_000)
    with pytest.raises(ValueError, match=r"\[set_num_threads\]"):
        ms.set_num_threads(_max_threads() + 1)
    assert ms.num_threads() == before


def test_set_num_threads_at_cap():
    before = ms.num_threads()
    try:
        ms.set_num_threads(_max_threads())
        assert ms.num_threads() == _max_threads()
        S = _matrix(300, 200, 0.2, seed=1)
        x = np.arange(200, dtype=np.float32)
        _close(ms.csr_array(S) @ mx.array(x), S @ x)
    finally:
        ms.set_num_threads(before)


def _threads_in_subprocess(value, var="MLX_SPARSE_NUM_THREADS"):
    import os
    import subprocess
    import sys
    env = dict(os.environ, **{var: value})
    code = ("import warnings; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    import mlx_sparse as ms\n"
            "print(ms.num_threads()); print('|'.join(str(x.message) for x in w))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    return int(out[0]), out[1] if len(out) > 1 else ""


def test_env_threads_valid():
    assert _threads_in_subprocess("3") == (3, "")


@pytest.mark.parametrize("value", ["0", "-2", "abc", "4x", "", "100000"])
def test_env_threads_invalid_is_ignored_with_a_warning(value):
    import os
    n, warning = _threads_in_subprocess(value)
    assert n == (os.cpu_count() or 1)
    assert "MLX_SPARSE_NUM_THREADS" in warning and "is ignored" in warning


@pytest.mark.parametrize("value", ["0", "50", "5000", "1000000"])
def test_env_spin_valid(value):
    """MLX_SPARSE_SPIN_US (the workers' spin before they sleep) in range: no warning, and
    products still right (the pool's hand-off sleeps at once with 0)."""
    assert _threads_in_subprocess(value, "MLX_SPARSE_SPIN_US")[1] == ""


@pytest.mark.parametrize("value", ["-1", "abc", "1000001", ""])
def test_env_spin_invalid_is_ignored_with_a_warning(value):
    _, warning = _threads_in_subprocess(value, "MLX_SPARSE_SPIN_US")
    assert "MLX_SPARSE_SPIN_US" in warning and "is ignored" in warning


def test_no_spin_gives_the_same_products():
    """With MLX_SPARSE_SPIN_US=0 every hand-off sleeps and wakes: results as with spinning."""
    import os
    import subprocess
    import sys
    code = ("import numpy as np, mlx.core as mx, mlx_sparse as ms, scipy.sparse as sp\n"
            "S = sp.random_array((3000, 3000), density=0.01, rng=1, format='csr', dtype=np.float32)\n"
            "A = ms.csr_array(S); B = np.random.default_rng(2).standard_normal((3000, 8)).astype(np.float32)\n"
            "ms.set_num_threads(2)\n"
            "for _ in range(20):\n"
            "    assert np.allclose(np.array(A @ mx.array(B)), S @ B, atol=1e-4)\n"
            "    assert np.allclose(np.array(A @ mx.array(B[:, 0])), S @ B[:, 0], atol=1e-4)\n"
            "print('ok')")
    env = dict(os.environ, MLX_SPARSE_SPIN_US="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "ok"


def test_products_between_pauses_of_every_length():
    """The workers' spin follows the gap between jobs (adaptive): jobs after short pauses
    (spinning workers), long ones (sleeping workers) and mixed give identical results."""
    import time

    S = sp.random_array((20000, 3000), density=0.003, rng=np.random.default_rng(3), format="csr",
                        dtype=np.float32)
    A = ms.csr_array(S)
    x = mx.array(np.random.default_rng(4).standard_normal((3000, 8)).astype(np.float32))
    first = np.array(A @ x)
    np.testing.assert_allclose(first, S @ np.array(x), rtol=1e-4, atol=1e-4)
    for pause in [0, 0.0005, 0.002, 0, 0.02, 0.0005, 0.008, 0]:
        time.sleep(pause)
        np.testing.assert_array_equal(np.array(A @ x), first)
