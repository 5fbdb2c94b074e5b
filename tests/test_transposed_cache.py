"""A CSRArray caches A^T's structure from its second product on, and the products (and their
gradients) then gather over it. Every result is checked against dense float64 references,
on the first call (no cache) and on later calls (cache in use)."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import GPU_TESTS, assert_close, rand, random_case, to_mx

F64 = mx.float32 if GPU_TESTS else mx.float64  # float32 on the GPU: MLX has no float64 there
CACHE_VARIANTS = ["canonical", "unsorted", "duplicates", "explicit_zeros", "empty_rows",
                  "one_long_row", "nnz0"]


def f64(x):
    return mx.array(np.asarray(x, dtype=np.float64), dtype=F64)


def cached(A):
    return "T" in A._cache


@pytest.mark.parametrize("variant", CACHE_VARIANTS)
@pytest.mark.parametrize("k", [None, 3, 20])  # spmv, narrow spmm, wide spmm
def test_products_and_grads_with_cache(variant, k):
    case = random_case((37, 29), variant, seed=21)
    A = case.csr(F64)
    D = case.dense()
    bshape, wshape = ((29,), (37,)) if k is None else ((29, k), (37, k))
    B, W = rand(bshape, seed=1), rand(wshape, seed=2)

    def fun(v, b):
        return mx.sum(f64(W) * (A.with_data(v) @ b))

    assert_close(A @ f64(B), D @ B, F64)
    assert not cached(A)  # a one-off product builds nothing
    for _ in range(3):  # matrix products cache at the second use; x @ A and grads use it
        dv, dB = mx.grad(fun, argnums=(0, 1))(A.data, f64(B))
        Wm, Bm = W.reshape(37, -1), B.reshape(29, -1)
        assert_close(dv, (Wm @ Bm.T)[case.rows, case.indices], F64)
        assert_close(dB, D.T @ W, F64)
    assert cached(A) == (k is not None)


@pytest.mark.parametrize("variant", ["canonical", "duplicates", "empty_rows"])
def test_transposed_products_with_cache(variant):
    """x @ A, X @ A and column sums gather over the cached A^T."""
    case = random_case((37, 29), variant, seed=22)
    A = case.csr(F64)
    D = case.dense()
    X, x = rand((2, 13, 37), seed=3), rand(37, seed=4)
    for _ in range(3):
        assert_close(ms.matmul(f64(X), A), X @ D, F64)
        assert_close(ms.matmul(f64(x), A), x @ D, F64)
        assert_close(A.sum(axis=0), D.sum(axis=0), F64)
    assert cached(A)

    W = rand((2, 13, 29), seed=5)

    def fun(v, xx):
        return mx.sum(f64(W) * ms.matmul(xx, A.with_data(v)))

    dv, dX = mx.grad(fun, argnums=(0, 1))(A.data, f64(X))
    assert_close(dv, np.einsum("bpm,bpn->mn", X, W)[case.rows, case.indices], F64)
    assert_close(dX, W @ D.T, F64)


def test_cache_second_order_batched_and_vmap():
    if GPU_TESTS:
        pytest.skip("finite differences need float64, which MLX's GPU lacks")
    case = random_case((11, 7), "unsorted", seed=23)
    A = case.csr(F64)
    D = case.dense()
    A @ f64(rand((7, 2), seed=0))
    A @ f64(rand((7, 2), seed=0))
    assert cached(A)
    # batched values and batched B through the cached structure
    vals, B = rand((3, case.nnz), seed=6), rand((3, 7, 4), seed=7)
    Ab = A._with_data(f64(vals))  # batched values (internal form)
    dense_b = np.zeros((3, 11, 7))
    for b in range(3):
        np.add.at(dense_b[b], (case.rows, case.indices), vals[b])
    assert_close(Ab @ f64(B), dense_b @ B, F64)
    # gradient of a gradient: d/dB of |d/dv sum((A B)^2)|^2
    Bm = f64(rand((7, 5), seed=8))

    def inner(v, b):
        return mx.sum(mx.square(A.with_data(v) @ b))

    def outer(b):
        return mx.sum(mx.square(mx.grad(inner)(A.data, b)))

    g = mx.grad(outer)(Bm)
    eps, base = 1e-6, np.array(Bm)
    fd = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        p, m = base.copy(), base.copy()
        p[i] += eps
        m[i] -= eps
        fd[i] = (outer(f64(p)).item() - outer(f64(m)).item()) / (2 * eps)
    np.testing.assert_allclose(np.array(g), fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
    # vmap over B
    Bs = rand((4, 7, 3), seed=9)
    out = mx.vmap(lambda b: A @ b)(f64(Bs))
    assert_close(out, D @ Bs, F64)


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16, mx.bfloat16])
def test_cache_low_precision(dtype):
    case = random_case((130, 97), "duplicates", seed=24)
    A = case.csr(dtype)
    B = rand((97, 33), seed=10, dtype=dtype)
    W = rand((130, 33), seed=11, dtype=dtype)
    for _ in range(3):
        dB = mx.grad(lambda b: mx.sum(to_mx(W, dtype) * (A @ b)))(to_mx(B, dtype))
    assert cached(A)
    assert dB.dtype == dtype
    assert_close(dB, case.dense(dtype).T @ W, dtype, scale=case.abs_dense(dtype).T @ np.abs(W))


def test_with_data_shares_the_cache():
    case = random_case((9, 8), seed=25)
    A = case.csr(F64)
    A @ f64(rand((8, 2), seed=1))
    A2 = A.with_data(f64(rand(case.nnz, seed=2)))
    A2 @ f64(rand((8, 2), seed=3))  # second product of the same pattern
    assert cached(A) and cached(A2)


def test_cache_inside_compile():
    case = random_case((37, 29), "canonical", seed=26)
    A = case.csr(mx.float32)
    B = rand((29, 18), seed=12)

    @mx.compile
    def step(v, b):
        return mx.grad(lambda bb: mx.sum(mx.square(A.with_data(v) @ bb)))(b)

    ref = 2 * case.dense().T @ (case.dense() @ B)
    for _ in range(3):
        assert_close(step(A.data, mx.array(B)), ref, mx.float32)


def test_bad_transposed_structure_is_rejected():
    case = random_case((9, 8), seed=27)
    A = case.csr(mx.float32)
    t = ms._ext.csr_transpose(A.indptr, A.indices, 8)
    with pytest.raises(ValueError, match=r"\[csr_spmm\] transposed must be csr_transpose"):
        ms._ext.csr_spmm(A.indptr, A.indices, A.data, mx.ones((8, 2)), 8, False, t[:2])
    with pytest.raises(ValueError, match=r"\[csr_spmv\] transposed must be csr_transpose"):
        ms._ext.csr_spmv(A.indptr, A.indices, A.data, mx.ones(9), 9, False, t)


def test_transposes_share_one_checked_cache(monkeypatch):
    """Every A.T of a pattern shares one structure cache: it is valid when A is, with A's
    row lengths swapped, so A.T @ x in a loop does not check the structure per call."""
    import scipy.sparse as sp

    from mlx_sparse._csr import _row_lengths

    case = random_case((37, 29), "one_long_row", seed=27)
    A = case.csr(F64)
    x = f64(rand(37, seed=4))
    ref = case.dense().T @ np.asarray(x)
    assert_close(A.T @ x, ref, F64)
    assert A.T._cache is A.T._cache
    T = sp.csr_array((np.ones(case.nnz), case.indices, case.indptr), shape=(37, 29)).T.tocsr()
    expected = _row_lengths(T.indptr, T.indices, 37)
    assert A.T._lengths() == expected and A.T._lengths().max_row == A._lengths().max_col

    def no_check(*args, **kwargs):
        raise AssertionError("checked again")

    monkeypatch.setattr(ms.CSRArray, "check_format", no_check)
    for _ in range(2):
        assert_close(A.T @ x, ref, F64)
        assert_close(A.T.T @ f64(rand(29, seed=5)), case.dense() @ rand(29, seed=5), F64)
