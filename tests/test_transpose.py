"""transpose: A.T's values and structure, and dense @ sparse through the transposed product."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import (SHAPES, VARIANTS, assert_close, index_dtypes, rand, random_case,
                      rows_canonical, rows_sorted, to_mx, to_np, value_dtypes, variants)


@variants
@index_dtypes
def test_transpose_structure_and_values(variant, index_dtype):
    for i, shape in enumerate(SHAPES):
        case = random_case(shape, variant, seed=i)
        A = case.csr(mx.float64, index_dtype)
        T = A.T
        assert isinstance(T, ms.CSRArray)
        assert T.shape == shape[::-1] and T.nnz == case.nnz
        assert T.index_dtype == index_dtype and T.dtype == mx.float64
        assert T.has_sorted_indices and rows_sorted(T.indptr, T.indices)
        T.check_format(full_check=True)
        np.testing.assert_array_equal(to_np(T.todense()), case.dense().T)
        # scipy: the CSR of A^T (a stable transpose keeps duplicates in CSR order)
        R = sp.csr_array(case.scipy().T)
        R.has_sorted_indices = False
        R.sort_indices()
        np.testing.assert_array_equal(np.array(T.indptr), R.indptr)
        np.testing.assert_array_equal(np.array(T.indices), R.indices)
        if variant not in ("duplicates",):  # without duplicates each value has one place
            np.testing.assert_array_equal(np.array(T.data), R.data)
        if rows_canonical(case.indptr, case.indices):
            assert T.has_canonical_format


@variants
def test_transpose_twice(variant):
    case = random_case((37, 29), variant, seed=3)
    A = case.csr(mx.float64)
    TT = A.T.T
    assert TT.shape == A.shape
    np.testing.assert_array_equal(to_np(TT.todense()), case.dense())
    assert A.transpose().shape == (29, 37)
    assert A.transpose((1, 0)).shape == (29, 37)
    with pytest.raises(ValueError, match=r"\[csr_transpose\]"):
        A.transpose((0, 1))


@value_dtypes
def test_transpose_dtypes(dtype):
    case = random_case((7, 11), "unsorted", seed=4)
    T = case.csr(dtype).T
    assert T.dtype == dtype
    np.testing.assert_array_equal(to_np(T.todense()), case.dense(dtype).T)


def test_transpose_ext_structure():
    case = random_case((7, 11), "duplicates", seed=5)
    A = case.csr(mx.float32)
    ip, ix, perm = ms._ext.csr_transpose(A.indptr, A.indices, 11)
    assert ip.shape == (12,) and ix.shape == (case.nnz,) and perm.shape == (case.nnz,)
    # perm is a permutation carrying A's entries to A^T's CSR order, stable
    p = np.array(perm)
    np.testing.assert_array_equal(np.sort(p), np.arange(case.nnz))
    np.testing.assert_array_equal(np.array(ix), case.rows[p])
    np.testing.assert_array_equal(case.indices[p], np.repeat(np.arange(11), np.diff(np.array(ip))))
    order = np.lexsort((np.arange(case.nnz), case.indices))  # by column, stable
    np.testing.assert_array_equal(p, order)


@pytest.mark.parametrize("variant", VARIANTS)
@value_dtypes
def test_numpy_matrix_at_sparse(variant, dtype):
    case = random_case((37, 29), variant, seed=6)
    A = case.csr(dtype)
    X = rand((13, 37), seed=6, dtype=dtype)
    D, scale = case.dense(dtype), case.abs_dense(dtype)
    Y = ms.matmul(to_mx(X, dtype), A)  # mx.array.__matmul__ does not defer to CSRArray
    assert isinstance(Y, mx.array) and Y.shape == (13, 29) and Y.dtype == dtype
    assert_close(Y, X @ D, dtype, scale=np.abs(X) @ scale)
    Yn = X @ A  # numpy float64 on the left: float64 result
    assert Yn.dtype == mx.float64
    assert_close(Yn, X @ D, dtype, scale=np.abs(X) @ scale)


def test_numpy_operand_left():
    case = random_case((37, 29), "unsorted", seed=7)
    A = case.csr(mx.float64)
    X = rand((5, 37), seed=7)
    Y = X @ A  # numpy defers to CSRArray.__rmatmul__
    assert isinstance(Y, mx.array) and Y.dtype == mx.float64
    assert_close(Y, X @ case.dense(), mx.float64)
    x = rand(37, seed=8)
    y = x @ A
    assert isinstance(y, mx.array) and y.shape == (29,)
    assert_close(y, x @ case.dense(), mx.float64)


@variants
@index_dtypes
def test_vector_at_sparse(variant, index_dtype):
    case = random_case((37, 29), variant, seed=9)
    A = case.csr(mx.float32, index_dtype)
    x = rand(37, seed=9, dtype=mx.float32)
    y = x @ A
    assert y.shape == (29,)
    assert_close(y, x @ case.dense(mx.float32), mx.float32,
                 scale=np.abs(x) @ case.abs_dense(mx.float32))
    y2 = ms.matmul(to_mx(x), A)
    assert_close(y2, x @ case.dense(mx.float32), mx.float32,
                 scale=np.abs(x) @ case.abs_dense(mx.float32))


@pytest.mark.parametrize("variant", ["canonical", "duplicates", "unsorted"])
def test_batched_dense_at_sparse(variant):
    case = random_case((7, 11), variant, seed=10)
    A = case.csr(mx.float32)
    X = rand((2, 3, 5, 7), seed=10, dtype=mx.float32)
    Y = ms.matmul(to_mx(X), A)
    assert Y.shape == (2, 3, 5, 11)
    assert_close(Y, X @ case.dense(mx.float32), mx.float32)
    assert_close(X @ A, X @ case.dense(mx.float32), mx.float32)


@pytest.mark.parametrize("k", [1, 16, 17, 64, 65, 130])
def test_dense_at_sparse_k(k):
    case = random_case((37, 29), "one_long_row", seed=k)
    A = case.csr(mx.float32)
    X = rand((k, 37), seed=k, dtype=mx.float32)
    assert_close(ms.matmul(to_mx(X), A), X @ case.dense(mx.float32), mx.float32,
                 scale=np.abs(X) @ case.abs_dense(mx.float32))
    # non-contiguous left operand
    Xt = rand((37, k), seed=k + 1, dtype=mx.float32)
    assert_close(ms.matmul(to_mx(Xt).T, A), Xt.T @ case.dense(mx.float32), mx.float32,
                 scale=np.abs(Xt.T) @ case.abs_dense(mx.float32))


def test_transposed_product_equals_product_with_transpose():
    case = random_case((37, 29), "duplicates", seed=11)
    A = case.csr(mx.float64)
    B = rand((37, 6), seed=11)
    np.testing.assert_allclose(np.array(A.T @ mx.array(B, dtype=mx.float64)), case.dense().T @ B,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_transpose_degenerate(shape):
    A = ms.csr_array(shape)
    T = A.T
    assert T.shape == shape[::-1] and T.nnz == 0
    assert ms.matmul(mx.ones((3, shape[0])), A).shape == (3, shape[1])
    assert (np.ones((3, shape[0])) @ A).shape == (3, shape[1])


@variants
def test_transpose_at_dense_runs_on_a_itself(variant):
    """A.T @ B (and @ a vector) through the products' transposed mode: A.T's values are never
    gathered, the result and the gradient to A's values are those of the dense A^T @ B;
    A.T.with_data(v) multiplies with v."""
    case = random_case((23, 31), variant, seed=7)
    A = case.csr(mx.float32, mx.int32)
    B = mx.array(rand((23, 5), 8), mx.float32)
    x = mx.array(rand((23,), 9), mx.float32)
    dense = case.dense().astype(np.float32)
    assert_close(A.T @ B, dense.T @ np.array(B))
    assert_close(A.T @ x, dense.T @ np.array(x))
    W = mx.array(rand((31, 5), 10), mx.float32)

    def loss(v):
        return mx.sum(W * (A.with_data(v).T @ B))

    def reference(v):
        return mx.sum(W * (A.with_data(v).todense().T @ B))

    assert_close(mx.grad(loss)(A.data), mx.grad(reference)(A.data))
    assert_close(mx.compile(loss)(A.data), reference(A.data))
    T = A.T
    v = mx.array(np.arange(T.nnz, dtype=np.float32))
    assert_close(T.with_data(v) @ B, np.array(T.with_data(v).todense()) @ np.array(B))
    with pytest.raises(ValueError, match=r"\[csr_spmm\] dimension mismatch"):
        A.T @ mx.ones((31, 2))


def test_transpose_keeps_its_values_when_a_changes_in_place():
    """A.T holds A's values as they were: A[i, j] = v (or A.sort_indices()) afterwards does not
    change A.T @ B, as it does not change A.T.toarray()."""
    case = random_case((9, 7), "unsorted", seed=11)
    A = case.csr(mx.float32, mx.int32)
    T = A.T
    before = T.toarray()
    B = mx.array(rand((9, 3), 12), mx.float32)
    r, c = np.nonzero(case.pattern().toarray())
    A[int(r[0]), int(c[0])] = 100.0
    A.sort_indices()
    assert_close(T @ B, before @ np.array(B))
