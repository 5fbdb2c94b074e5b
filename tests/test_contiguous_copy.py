"""Operands that are not row-major (transposed, broadcast, reversed, sliced, batched views)
reach the kernels through contiguous_copy (ContiguousCopy on CPU streams, MLX's contiguous
on GPU ones): every layout must give the product of the same values, and the copy must pass
gradients, jvp, vmap and compile through unchanged."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import RTOL, VALUE_DTYPES, VALUE_IDS, to_np

RNG = np.random.default_rng(7)


def _matrix(m, n, density=0.2, dtype=mx.float32):
    S = sp.random_array((m, n), density=density, rng=RNG, format="csr", dtype=np.float64)
    return S, ms.csr_array(S, dtype=dtype)


def _close(ours, ref, dtype):
    ours = to_np(ours).astype(np.float64)
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


# (name, make(host (n, k) float64) -> an mx view of it with that layout, as (view, host))
LAYOUTS = {
    "transposed": lambda b: (mx.array(np.ascontiguousarray(b.T)).T, b),
    "reversed rows": lambda b: (mx.array(b[::-1].copy())[::-1], b),
    "reversed both": lambda b: (mx.array(b[::-1, ::-1].copy())[::-1, ::-1], b),
    "column slice": lambda b: (mx.array(np.concatenate([b, b], axis=1))[:, ::2],
                               np.concatenate([b, b], axis=1)[:, ::2]),
    "broadcast row": lambda b: (mx.broadcast_to(mx.array(b[:1]), b.shape),
                                np.broadcast_to(b[:1], b.shape)),
    "broadcast column": lambda b: (mx.broadcast_to(mx.array(b[:, :1]), b.shape),
                                   np.broadcast_to(b[:, :1], b.shape)),
    "lazy transpose": lambda b: (mx.array(np.ascontiguousarray(b.T) * 1.0).T * 1.0, b),
}


@pytest.mark.parametrize("dtype", VALUE_DTYPES, ids=VALUE_IDS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("n,k", [(37, 5), (300, 64), (1, 1), (129, 33)])
def test_spmm_any_layout(dtype, layout, n, k):
    S, A = _matrix(23, n, dtype=dtype)
    view, host = LAYOUTS[layout](RNG.standard_normal((n, k)))
    view = view.astype(dtype)
    host = to_np(view).astype(np.float64)  # the operand's values after the dtype cast
    _close(A @ view, S @ host, dtype)


@pytest.mark.parametrize("dtype", VALUE_DTYPES, ids=VALUE_IDS)
@pytest.mark.parametrize("p", [1, 7, 64, 100])
def test_dense_times_sparse(dtype, p):
    """X @ A is (A^T @ X^T)^T: X^T is the transposed operand copied for the kernel."""
    S, A = _matrix(150, 90, 0.05, dtype)
    X = mx.array(RNG.standard_normal((p, 150))).astype(dtype)
    _close(ms.matmul(X, A), to_np(X).astype(np.float64) @ S, dtype)


def test_spmv_strided_vector():
    S, A = _matrix(40, 60)
    x = RNG.standard_normal(120)
    for view, host in ((mx.array(x)[::2], x[::2]), (mx.array(x[:60])[::-1], x[:60][::-1]),
                       (mx.broadcast_to(mx.array(x[:1]), (60,)), np.full(60, x[0]))):
        _close(A @ view, S @ host, mx.float32)


def test_batched_transposed_operand():
    """A (b, n, k) operand given as the transpose of (b, k, n): the copy keeps its batch."""
    S, A = _matrix(17, 40)
    b = RNG.standard_normal((3, 40, 6))
    view = mx.swapaxes(mx.array(np.ascontiguousarray(np.swapaxes(b, 1, 2))), 1, 2)
    _close(A @ view, np.stack([S @ b[i] for i in range(3)]), mx.float32)


def test_empty_and_size_one_axes():
    S, A = _matrix(5, 8)
    empty = mx.zeros((0, 8)).T  # (8, 0)
    assert (A @ empty).shape == (5, 0)
    one = mx.array(RNG.standard_normal((1, 8))).T  # (8, 1): a size-1 axis, stride n
    _close(A @ one, S @ to_np(one).astype(np.float64), mx.float32)


def test_gradients_through_the_copy():
    """vjp, jvp, vmap and compile of a product whose operand is transposed."""
    S, A = _matrix(30, 20)
    xt = mx.array(RNG.standard_normal((8, 20)))  # used as xt.T: (20, 8)
    loss = lambda xt: mx.square(A @ xt.T).sum()  # noqa: E731
    g = mx.grad(loss)(xt)
    Sd = S.toarray()
    ref = (2 * Sd.T @ (Sd @ to_np(xt).T.astype(np.float64))).T
    _close(g, ref, mx.float32)
    _close(mx.compile(mx.grad(loss))(xt), ref, mx.float32)
    t = mx.array(RNG.standard_normal((8, 20)))
    _, jv = mx.jvp(lambda xt: A @ xt.T, [xt], [t])
    _close(jv[0], Sd @ to_np(t).T.astype(np.float64), mx.float32)
    batch = mx.array(RNG.standard_normal((4, 8, 20)))
    out = mx.vmap(lambda xt: A @ xt.T)(batch)
    _close(out, np.stack([Sd @ to_np(batch[i]).T.astype(np.float64) for i in range(4)]),
           mx.float32)


def test_large_transposed_operand_threads():
    """Big enough for the threaded tiled copy (and odd sizes for partial tiles)."""
    S, A = _matrix(4099, 64, 0.01)
    X = RNG.standard_normal((77, 4099))
    _close(ms.matmul(mx.array(X), A), X @ S, mx.float32)
    threads = ms.num_threads()
    try:
        ms.set_num_threads(1)
        _close(ms.matmul(mx.array(X), A), X @ S, mx.float32)
    finally:
        ms.set_num_threads(threads)


@pytest.mark.parametrize("n,k", [(2053, 19), (4096, 64), (8, 2000)])
def test_transposed_operand_block_edges(n, k):
    """The register-block transpose: long operands (tasks of many rows), rows and columns
    that are not multiples of the block, and a wide, short one."""
    S, A = _matrix(31, n, 0.05)
    b = RNG.standard_normal((n, k))
    view = mx.array(np.ascontiguousarray(b.T)).T
    _close(A @ view, S @ b, mx.float32)
    _close(A.T @ mx.array(np.ascontiguousarray(S @ b).T).T, S.T @ (S @ b), mx.float32)


@pytest.mark.parametrize("shape", [(), (1, 1), (40, 1), (3, 40, 1), (1, 40, 1)])
def test_broadcast_along_k(shape):
    """B constant along its rows (a lazy broadcast along k, e.g. a sum's cotangent) is
    multiplied as one column and broadcast: same values, gradients and transforms."""
    S, A = _matrix(17, 40)
    full = (3, 40, 6) if len(shape) == 3 else (40, 6)
    src = RNG.standard_normal(shape)
    view = mx.broadcast_to(mx.array(src, dtype=mx.float32), full)
    ref = np.broadcast_to(src, full)
    _close(A @ view, np.stack([S @ r for r in ref]) if ref.ndim == 3 else S @ ref, mx.float32)
    # the gradient with respect to B of a sum: A^T @ ones, through the same shortcut
    B = mx.array(RNG.standard_normal((40, 6)), dtype=mx.float32)
    g = mx.grad(lambda B: (A @ B).sum())(B)
    _close(g, np.broadcast_to(S.T @ np.ones((17, 1)), (40, 6)), mx.float32)
    # gradient with respect to the values of A and to the broadcast source
    v, s0 = A.data, mx.array(src, dtype=mx.float32)
    f = lambda v, s0: mx.square(A.with_data(v) @ mx.broadcast_to(s0, full)).sum()  # noqa: E731
    dv, ds = mx.grad(f, argnums=(0, 1))(v, s0)
    dense = lambda v, s0: mx.square(mx.matmul(A.with_data(v).todense(),  # noqa: E731
                                              mx.broadcast_to(s0, full))).sum()
    rv, rs = mx.grad(dense, argnums=(0, 1))(v, s0)
    _close(dv, to_np(rv).astype(np.float64), mx.float32)
    _close(ds, to_np(rs).astype(np.float64), mx.float32)
    _close(mx.compile(lambda s0: A @ mx.broadcast_to(s0, full))(s0), to_np(A @ view), mx.float32)
