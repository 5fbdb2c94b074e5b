"""ms.softmax: the row-wise softmax of the stored values, against a float64 numpy reference
computed row by row over the stored entries; gradients against the analytic Jacobian and
finite differences; transforms."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import (GPU_TESTS, VARIANTS, assert_close, index_dtypes, rand, random_case, to_mx,
                      to_np, value_dtypes)

F64 = mx.float32 if GPU_TESTS else mx.float64  # MLX has no float64 on the GPU
SHAPES = [(7, 11), (37, 29), (1, 1), (0, 5), (5, 0), (130, 97)]


def reference(indptr, values):
    """softmax of values[indptr[i]:indptr[i+1]] for every row i (float64)."""
    out = np.zeros_like(values, dtype=np.float64)
    for i in range(len(indptr) - 1):
        seg = values[indptr[i]:indptr[i + 1]].astype(np.float64)
        if seg.size:
            e = np.exp(seg - seg.max())
            out[indptr[i]:indptr[i + 1]] = e / e.sum()
    return out


def jacobian_vjp(indptr, y, g):
    """y * (g - rowsum(g * y)) per row (float64)."""
    out = np.zeros_like(y, dtype=np.float64)
    for i in range(len(indptr) - 1):
        lo, hi = indptr[i], indptr[i + 1]
        out[lo:hi] = y[lo:hi] * (g[lo:hi] - np.dot(g[lo:hi], y[lo:hi]))
    return out


@value_dtypes
@index_dtypes
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_softmax(shape, variant, dtype, index_dtype):
    case = random_case(shape, variant, seed=3)
    A = case.csr(dtype, index_dtype=index_dtype)
    S = ms.softmax(A)
    assert isinstance(S, ms.CSRArray) and S.dtype == dtype and S.shape == A.shape
    np.testing.assert_array_equal(np.asarray(S.indices), np.asarray(A.indices))
    np.testing.assert_array_equal(np.asarray(S.indptr), np.asarray(A.indptr))
    ref = reference(case.indptr, to_np(A.data))
    assert_close(S.data, ref, dtype, scale=1.0)
    rows_with_entries = np.diff(case.indptr) > 0
    sums = np.add.reduceat(to_np(S.data), case.indptr[:-1][rows_with_entries]) if S.nnz else []
    np.testing.assert_allclose(sums, 1.0, rtol=2e-2 if dtype in (mx.float16, mx.bfloat16) else 1e-5)


def test_softmax_large_values_are_stable():
    A = ms.csr_array((mx.array([1000.0, 1001.0, -1000.0]), [0, 1, 2], [0, 2, 3]), shape=(2, 3))
    assert_close(ms.softmax(A).data, [1 / (1 + np.e), np.e / (1 + np.e), 1.0], mx.float32, scale=1.0)


def test_softmax_batched_values_ext():
    case = random_case((9, 8), "duplicates", seed=4)
    A = case.csr(F64)
    vals = rand((3, case.nnz), seed=5)
    out = ms._ext.csr_softmax(A.indptr, A.indices, to_mx(vals, F64), 8)
    for b in range(3):
        assert_close(out[b], reference(case.indptr, vals[b]), F64, scale=1.0)


@pytest.mark.parametrize("variant", ["canonical", "duplicates", "empty_rows", "one_long_row"])
def test_grad_softmax(variant):
    case = random_case((37, 29), variant, seed=6)
    A = case.csr(F64)
    w = rand(case.nnz, seed=7)

    def fun(v):
        return mx.sum(to_mx(w, F64) * ms.softmax(A.with_data(v)).data)

    g = mx.grad(fun)(A.data)
    y = reference(case.indptr, to_np(A.data))
    assert_close(g, jacobian_vjp(case.indptr, y, w), F64, scale=1.0)
    # jvp with the same tangent direction
    t = rand(case.nnz, seed=8)
    _, (jv,) = mx.jvp(lambda v: ms.softmax(A.with_data(v)).data, [A.data], [to_mx(t, F64)])
    assert_close(jv, jacobian_vjp(case.indptr, y, t), F64, scale=1.0)


@pytest.mark.skipif(GPU_TESTS, reason="finite differences need float64, which MLX's GPU lacks")
def test_grad_softmax_finite_differences_and_second_order():
    case = random_case((5, 6), "duplicates", density=0.6, seed=9)
    A = case.csr(mx.float64)
    w = mx.array(rand(case.nnz, seed=10), dtype=mx.float64)

    def fun(v):
        s = ms.softmax(A.with_data(v)).data
        return mx.sum(w * s * s)

    def fd(f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        out = np.zeros_like(x)
        for i in range(x.size):
            p, m = x.copy(), x.copy()
            p[i] += eps
            m[i] -= eps
            out[i] = (f(mx.array(p, dtype=mx.float64)).item() - f(mx.array(m, dtype=mx.float64)).item()) / (2 * eps)
        return out

    np.testing.assert_allclose(np.array(mx.grad(fun)(A.data)), fd(fun, A.data), rtol=1e-6, atol=1e-9)
    # the gradient itself differentiates: d/dv of sum(grad(v))
    outer = lambda v: mx.sum(mx.grad(fun)(v))  # noqa: E731
    np.testing.assert_allclose(np.array(mx.grad(outer)(A.data)), fd(outer, A.data),
                               rtol=1e-5, atol=1e-8)


def test_softmax_vmap_and_compile():
    case = random_case((11, 7), "unsorted", seed=11)
    A = case.csr(mx.float32)
    vals = rand((4, case.nnz), seed=12)
    out = mx.vmap(lambda v: ms.softmax(A.with_data(v)).data)(mx.array(vals))
    for b in range(4):
        assert_close(out[b], reference(case.indptr, vals[b]), mx.float32, scale=1.0)
    step = mx.compile(lambda v: mx.grad(lambda u: mx.sum(ms.softmax(A.with_data(u)).data ** 3))(v))
    ref = mx.grad(lambda u: mx.sum(ms.softmax(A.with_data(u)).data ** 3))(A.data)
    assert_close(step(A.data), np.array(ref), mx.float32, scale=1.0)


def test_softmax_errors():
    A = random_case((4, 5), seed=13).csr(mx.float32)
    with pytest.raises(ValueError, match=r"\[csr_softmax\] data must have shape \(\.\.\., nnz\)"):
        ms._ext.csr_softmax(A.indptr, A.indices, mx.ones((A.nnz + 1,)), 5)
    with pytest.raises(ValueError, match=r"\[csr_softmax\] indptr and indices must both be int32"):
        ms._ext.csr_softmax(A.indptr.astype(mx.int16), A.indices, A.data, 5)
    with pytest.raises(ValueError, match=r"\[csr_softmax\] gradients with respect to indptr or indices"):
        mx.grad(lambda i: mx.sum(ms._ext.csr_softmax(A.indptr, i, A.data, 5)))(A.indices)
