"""CSCArray and csc_array against scipy.sparse.csc_array: construction, round trips,
canonical forms, conversions, products (the CSR kernels run transposed) and gradients."""

import pickle

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import (RTOL, SMALL_SHAPES, assert_close, rand, random_case, to_mx, to_np,
                      value_dtypes, variants)

import mlx_sparse as ms

F64 = mx.float64


def csc_case(shape, variant, seed=0, dtype=F64):
    """A CSCArray of the given shape built from a case's arrays read column-wise, and scipy's."""
    case = random_case(shape[::-1], variant, seed=seed)
    A = ms.csc_array((to_mx(case.data, dtype), case.indices, case.indptr), shape=shape)
    S = sp.csc_array((case.data.copy(), case.indices.copy(), case.indptr.copy()), shape=shape)
    return A, S


@variants
@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_arrays_and_dense(shape, variant):
    A, S = csc_case(shape, variant)
    assert A.format == "csc" and A.shape == shape and A.nnz == S.nnz
    np.testing.assert_array_equal(np.asarray(A.indices), S.indices)
    np.testing.assert_array_equal(np.asarray(A.indptr), S.indptr)
    np.testing.assert_allclose(A.toarray(), S.toarray(), rtol=1e-14)
    assert A.has_sorted_indices == S.has_sorted_indices
    T = A.T
    assert isinstance(T, ms.CSRArray) and T.shape == shape[::-1] and T.indices is A.indices


@variants
def test_scipy_round_trip_and_forms(variant):
    A, S = csc_case((37, 29), variant, seed=1)
    T = A.toscipy()
    assert isinstance(T, sp.csc_array)
    np.testing.assert_allclose(T.toarray(), S.toarray(), rtol=1e-14)
    B = ms.csc_array(S)
    np.testing.assert_array_equal(np.asarray(B.indices), S.indices)
    np.testing.assert_array_equal(np.asarray(B.data), S.data)
    coo = S.tocoo()
    C = ms.csc_array((coo.data, (coo.row, coo.col)), shape=S.shape)
    assert C.has_canonical_format
    np.testing.assert_allclose(C.toarray(), S.toarray(), rtol=1e-14)
    D = ms.csc_array(S.toarray())
    np.testing.assert_allclose(D.toarray(), S.toarray(), rtol=1e-14)
    assert ms.csc_array(mx.array(S.toarray().astype(np.float32))).shape == S.shape
    assert ms.csc_array(ms.coo_array(S)).nnz == ms.coo_array(S).tocsr().nnz


def test_shape_inference_and_empty():
    A = ms.csc_array(([1.0, 2.0], [0, 4], [0, 1, 1, 2]))
    assert A.shape == sp.csc_array(([1.0, 2.0], [0, 4], [0, 1, 1, 2])).shape == (5, 3)
    E = ms.csc_array((3, 4))
    assert E.shape == (3, 4) and E.nnz == 0 and np.asarray(E.indptr).size == 5
    for dtype in ("float16", np.float16, mx.float16):
        assert ms.csc_array(E, dtype=dtype).dtype == mx.float16
    assert ms.csc_array(E, index_dtype=np.int64).index_dtype == mx.int64


@variants
def test_canonical_forms_as_scipy(variant):
    A, S = csc_case((29, 37), variant, seed=2)
    for op in ("sort_indices", "sum_duplicates", "eliminate_zeros"):
        B, R = A.copy(), S.copy()
        assert getattr(B, op)() is B
        getattr(R, op)()
        np.testing.assert_array_equal(np.asarray(B.indptr), R.indptr)
        np.testing.assert_array_equal(np.asarray(B.indices), R.indices)
        np.testing.assert_allclose(np.asarray(B.data), R.data, rtol=1e-14)
        np.testing.assert_allclose(B.toarray(), R.toarray(), rtol=1e-14)


@variants
def test_conversions(variant):
    A, S = csc_case((37, 29), variant, seed=3)
    coo, ref = A.tocoo(), S.tocoo()
    assert isinstance(coo, ms.COOArray)
    np.testing.assert_array_equal(np.asarray(coo.row), ref.row)  # scipy's column-major order
    np.testing.assert_array_equal(np.asarray(coo.col), ref.col)
    for fmt in ("csr", "coo", "csc", "bsr"):
        np.testing.assert_allclose(A.asformat(fmt).toarray(), S.toarray(), rtol=1e-14)
    assert A.asformat("csc") is A and A.tocsc(copy=True) is not A
    R = ms.csr_array(S.tocsr())
    np.testing.assert_allclose(R.tocsc().toarray(), S.toarray(), rtol=1e-14)
    np.testing.assert_allclose(ms.bsr_array(S.toarray()).tocsc().toarray(), S.toarray(), rtol=1e-14)


@variants
@value_dtypes
def test_products(variant, dtype):
    A, S = csc_case((37, 29), variant, seed=4, dtype=dtype)
    S = S.astype(np.float64)
    S.data = to_np(A.data)  # the rounded values
    x, X, Xb, Y = rand(29, seed=1), rand((29, 5), seed=2), rand((2, 29, 3), seed=3), rand((4, 37), seed=4)
    scale = abs(S).toarray()
    assert_close(A @ to_mx(x, dtype), S @ x, dtype, scale=scale.sum())
    assert_close(A @ to_mx(X, dtype), S @ X, dtype, scale=scale.sum())
    assert_close(A @ to_mx(Xb, dtype), np.stack([S @ b for b in Xb]), dtype, scale=scale.sum())
    assert_close(ms.matmul(to_mx(Y, dtype), A), Y @ S, dtype, scale=scale.sum())
    assert_close(ms.matmul(to_mx(Y[0], dtype), A), Y[0] @ S, dtype, scale=scale.sum())
    if dtype == F64:
        assert_close(np.asarray(Y) @ A, Y @ S, dtype)  # numpy on the left defers


def test_sparse_products_keep_scipy_formats():
    A, S = csc_case((13, 11), "duplicates", seed=5)
    B, R = csc_case((11, 9), "unsorted", seed=6)
    C = A @ B
    assert isinstance(C, ms.CSCArray) and C.has_canonical_format
    np.testing.assert_allclose(C.toarray(), (S @ R).toarray(), rtol=1e-12, atol=1e-14)
    D = A @ B.tocsr()
    assert isinstance(D, ms.CSRArray)
    np.testing.assert_allclose(D.toarray(), (S @ R).toarray(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose((A.tocoo() @ B).toarray(), (S @ R).toarray(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose((A + A).toarray(), 2 * S.toarray(), rtol=1e-14)
    np.testing.assert_allclose((A * 3).toarray(), 3 * S.toarray(), rtol=1e-14)
    assert isinstance(A * 3, ms.CSCArray)


def test_errors_name_the_op():
    with pytest.raises(ValueError, match=r"\[csc_array\] row index 7 is out of range for 3 rows"):
        ms.csc_array(([1.0], [7], [0, 1]), shape=(3, 1)).check_format(full_check=True)
    with pytest.raises(ValueError, match=r"\[csc_array\] index pointer size 3 should be 2"):
        ms.csc_array(([1.0], [0], [0, 1, 1]), shape=(3, 1))
    with pytest.raises(ValueError, match=r"\[matmul\] dimension mismatch"):
        ms.csc_array((3, 4)) @ mx.ones((3,))
    with pytest.raises(ValueError, match=r"\[matmul\] dimension mismatch"):
        ms.matmul(mx.ones((2, 4)), ms.csc_array((3, 4)))
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] dimension mismatch"):
        ms.csc_array((3, 4)) @ ms.csc_array((3, 4))
    with pytest.raises(ValueError, match=r"\[csc_array\] shape \(2, 2\) does not match"):
        ms.csc_array(sp.csc_array((3, 3)), shape=(2, 2))
    with pytest.raises(ValueError, match=r"\[matmul\] scalar"):
        ms.csc_array((3, 4)) @ 2.0


def test_pickle():
    A, _ = csc_case((7, 11), "unsorted", seed=7)
    B = pickle.loads(pickle.dumps(A))
    assert isinstance(B, ms.CSCArray) and B.shape == A.shape
    np.testing.assert_array_equal(B.toarray(), A.toarray())


def test_gradients_against_dense():
    A, S = csc_case((9, 7), "duplicates", seed=8)
    coo = A.tocoo()
    rows, cols = coo.row, coo.col  # entry e of coo is entry e of A (column-major storage)
    x, Y = to_mx(rand(7, seed=9), F64), to_mx(rand((3, 9), seed=10), F64)

    def sparse(d):
        B = A.with_data(d)
        return (mx.sum((B @ x) ** 2) + mx.sum(ms.matmul(Y, B) ** 2) + mx.sum(B.tocsr().todense() ** 3)
                + mx.sum(B.tocoo().todense() * 2))

    def dense(d):
        D = mx.zeros(A.shape, dtype=F64).at[rows, cols].add(d)
        return mx.sum((D @ x) ** 2) + mx.sum((Y @ D) ** 2) + mx.sum(D ** 3) + mx.sum(D * 2)

    d = A.data
    assert_close(mx.grad(sparse)(d), to_np(mx.grad(dense)(d)), F64, rtol=RTOL[F64] * 10)
    g = mx.grad(lambda B: mx.sum(B @ x))(A)
    assert set(g) == {"data"} and g["data"].shape == (A.nnz,)


def test_csr_ops_take_every_format():
    case = random_case((13, 11), "duplicates", seed=9)
    S = case.scipy()
    x = rand(11, seed=10)
    for A in (case.csr(F64).tocsc(), ms.coo_array(S), ms.csr_array(S).tobsr((1, 1)), S):
        assert_close(ms.spmv(A, to_mx(x, F64)), S @ x, F64)
        assert_close(ms.sum(A, 0), S.sum(axis=0), F64)
        np.testing.assert_allclose(ms.multiply(A, A).toarray(), (S.multiply(S)).toarray(), rtol=1e-12)
        np.testing.assert_allclose(ms.add(A, A).toarray(), 2 * S.toarray(), rtol=1e-14)
        assert ms.spgemm(A, ms.csr_array(S.T)).shape == (13, 13)
        assert ms.softmax(A).nnz == ms.csr_array(A).nnz  # COO: duplicates summed by tocsr
    with pytest.raises(TypeError, match=r"\[csr_spmv\] expects a sparse array, got ndarray"):
        ms.spmv(np.eye(3), np.ones(3))


def test_compile_and_vmap_over_values():
    """Captured patterns, values as arguments: products, unary ops and reductions of CSC and
    COO arrays under mx.compile, and a CSC product mapped by mx.vmap over a batch of values."""
    case = random_case((13, 11), "duplicates", seed=11)
    S = case.scipy()
    K, C = ms.csc_array(S, dtype=mx.float32), ms.coo_array(case.scipy(), dtype=mx.float32)
    x = mx.array(rand(11, seed=12).astype(np.float32))
    Ss = S.copy()
    Ss.sum_duplicates()
    f = mx.compile(lambda v, w: (K.with_data(v) @ x, C.with_data(w) @ x, K.with_data(v).abs().sum(axis=0),
                                 C.with_data(w).max(axis=1)))
    y, z, s, m = f(K.data, C.data)
    for got, want in ((y, S @ np.asarray(x)), (z, S @ np.asarray(x)), (s, abs(Ss).sum(axis=0)),
                      (m, S.max(axis=1).toarray())):
        assert_close(got, want, mx.float32)
    batch = mx.stack([K.data, 2 * K.data])
    Y = mx.vmap(lambda v: K.with_data(v) @ x)(batch)
    assert_close(Y, np.stack([S @ np.asarray(x), 2 * (S @ np.asarray(x))]), mx.float32)


def test_in_place_ops_leave_the_transpose():
    A, S = csc_case((13, 11), "duplicates", seed=13)
    T = A.T
    before = T.toarray()
    nnz = T.nnz
    A.sum_duplicates()
    assert T.nnz == nnz and A.nnz < nnz
    np.testing.assert_array_equal(T.toarray(), before)
    np.testing.assert_allclose(A.toarray(), before.T, rtol=1e-14)
