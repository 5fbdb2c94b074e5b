"""COOArray and coo_array against scipy.sparse.coo_array: construction, round trips,
duplicates kept until sum_duplicates, conversions, products and their gradients."""

import pickle

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import RTOL, SMALL_SHAPES, assert_close, rand, random_case, to_mx, to_np, variants

import mlx_sparse as ms


def coo_case(shape, variant, seed=0):
    """A COOArray (entries in the case's stored order, duplicates kept) and scipy's."""
    case = random_case(shape, variant, seed=seed)
    rows = case.rows
    A = ms.coo_array((to_mx(case.data, mx.float64), (rows, case.indices)), shape=shape)
    S = sp.coo_array((case.data, (rows, case.indices)), shape=shape)
    return A, S, case


@variants
@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_entries_kept_and_dense(shape, variant):
    A, S, case = coo_case(shape, variant)
    assert A.format == "coo" and A.shape == shape and A.nnz == S.nnz
    np.testing.assert_array_equal(np.asarray(A.row), S.row)
    np.testing.assert_array_equal(np.asarray(A.col), S.col)
    np.testing.assert_array_equal(np.asarray(A.data), S.data)
    np.testing.assert_allclose(A.toarray(), S.toarray(), rtol=1e-14)
    assert A.coords[0] is A.row and A.coords[1] is A.col


@variants
def test_scipy_round_trip(variant):
    A, S, _ = coo_case((37, 29), variant, seed=1)
    B = ms.coo_array(S)
    T = B.toscipy()
    assert isinstance(T, sp.coo_array)
    np.testing.assert_array_equal(T.row, S.row)
    np.testing.assert_array_equal(T.col, S.col)
    np.testing.assert_array_equal(T.data, S.data)
    assert ms.coo_array(sp.coo_matrix(S)).nnz == S.nnz


@variants
def test_sum_duplicates_as_scipy(variant):
    A, S, _ = coo_case((37, 29), variant, seed=2)
    S = S.copy()
    S.sum_duplicates()
    assert A.sum_duplicates() is A
    assert A.has_canonical_format and A.nnz == S.nnz
    np.testing.assert_array_equal(np.asarray(A.row), S.row)
    np.testing.assert_array_equal(np.asarray(A.col), S.col)
    np.testing.assert_allclose(np.asarray(A.data), S.data, rtol=1e-14)


def test_duplicates_kept_until_summed():
    A = ms.coo_array(([1.0, 2.0, 3.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    assert A.nnz == 3 and not A.has_canonical_format
    np.testing.assert_array_equal(A.toarray(), [[0, 3], [3, 0]])
    assert A.tocsr().nnz == 2
    assert A.nnz == 3  # conversion does not change A
    A.eliminate_zeros()
    assert A.nnz == 3
    Z = ms.coo_array(([0.0, 2.0], ([0, 1], [0, 1])), shape=(2, 2)).eliminate_zeros()
    assert Z.nnz == 1 and float(Z.data[0]) == 2.0


@variants
def test_conversions_as_scipy(variant):
    A, S, _ = coo_case((37, 29), variant, seed=3)
    for fmt, cls in (("csr", ms.CSRArray), ("csc", ms.CSCArray), ("coo", ms.COOArray)):
        B = A.asformat(fmt)
        assert isinstance(B, cls) and B.format == fmt
        np.testing.assert_allclose(B.toarray(), S.toarray(), rtol=1e-14)
    csr, ref = A.tocsr(), S.tocsr()
    ref.sum_duplicates()
    np.testing.assert_array_equal(np.asarray(csr.indptr), ref.indptr)
    np.testing.assert_array_equal(np.asarray(csr.indices), ref.indices)
    assert A.tocoo() is A and A.tocoo(copy=True) is not A
    np.testing.assert_allclose(A.T.toarray(), S.toarray().T, rtol=1e-14)
    back = ms.csr_array(S).tocoo()
    assert isinstance(back, ms.COOArray)
    np.testing.assert_allclose(back.toarray(), S.toarray(), rtol=1e-14)


def test_constructor_forms():
    dense = rand((6, 5), seed=4)
    dense[dense < 0.2] = 0
    A = ms.coo_array(dense)
    assert A.dtype == mx.float64 and A.has_canonical_format
    np.testing.assert_array_equal(A.toarray(), dense)
    E = ms.coo_array((3, 4))
    assert E.nnz == 0 and E.shape == (3, 4) and E.dtype == mx.float32
    B = ms.coo_array(([1, 2], ([0, 3], [1, 0])))
    assert B.shape == (4, 2) and B.dtype == mx.float32
    for dtype in ("float16", np.float16, np.dtype("float16"), mx.float16):
        assert ms.coo_array(A, dtype=dtype).dtype == mx.float16
    assert ms.coo_array(A, index_dtype="int64").row.dtype == mx.int64
    C = ms.coo_array(A, copy=True)
    assert C["data"] is not A["data"]
    assert ms.coo_array(ms.csc_array(dense)).nnz == A.nnz


def test_errors_name_the_op():
    with pytest.raises(ValueError, match=r"\[coo_array\] row index 5 is out of range"):
        ms.coo_array(([1.0], ([5], [0])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"\[coo_array\] data, row and col"):
        ms.coo_array(([1.0, 2.0], ([0], [0])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"\[coo_array\] expected"):
        ms.coo_array(([1.0], [0], [0, 1], [3]))
    with pytest.raises(TypeError, match=r"\[coo_array\] complex"):
        ms.coo_array(([1j], ([0], [0])), shape=(1, 1))
    with pytest.raises(TypeError, match=r"\[coo_array\] dtype"):
        ms.coo_array((2, 2), dtype="int8")
    with pytest.raises(TypeError, match="iteration"):
        row, col, data = ms.coo_array((2, 2))
    with pytest.raises(ValueError, match=r"\[asformat\]"):
        ms.coo_array((2, 2)).asformat("dia")


def test_pickle():
    A, S, _ = coo_case((7, 11), "duplicates", seed=5)
    B = pickle.loads(pickle.dumps(A))
    assert B.nnz == A.nnz and B.dtype == A.dtype
    np.testing.assert_array_equal(B.toarray(), A.toarray())


@variants
def test_products(variant):
    A, S, case = coo_case((37, 29), variant, seed=6)
    x, X, Y = rand(29, seed=1), rand((29, 4), seed=2), rand((3, 37), seed=3)
    f64 = mx.float64
    assert_close(A @ to_mx(x, f64), S @ x, f64)
    assert_close(A @ to_mx(X, f64), S @ X, f64)
    assert_close(ms.matmul(to_mx(Y, f64), A), Y @ S, f64)
    C = A @ A.T
    assert isinstance(C, ms.CSRArray)
    np.testing.assert_allclose(C.toarray(), (S @ S.T).toarray(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((A + A).toarray(), 2 * S.toarray(), rtol=1e-14)
    np.testing.assert_allclose(A.multiply(A).toarray(), S.toarray() ** 2, rtol=1e-12, atol=1e-15)


def test_gradients_reach_every_stored_entry():
    A, S, case = coo_case((9, 7), "duplicates", seed=7)
    x = to_mx(rand(7, seed=8), mx.float64)
    rows, cols = mx.array(case.rows), mx.array(case.indices)

    def sparse(d):
        return mx.sum((A.with_data(d) @ x) ** 2) + mx.sum(A.with_data(d).tocsc().todense() ** 3)

    def dense(d):
        D = mx.zeros(A.shape, dtype=mx.float64).at[rows, cols].add(d)
        return mx.sum((D @ x) ** 2) + mx.sum(D ** 3)

    d = A.data
    assert_close(mx.grad(sparse)(d), to_np(mx.grad(dense)(d)), mx.float64, rtol=RTOL[mx.float64] * 10)


def test_every_constructor_takes_every_format():
    A, S, _ = coo_case((8, 6), "duplicates", seed=9)
    for make in (ms.csr_array, ms.csc_array, ms.coo_array, lambda x: ms.bsr_array(x, blocksize=(2, 2))):
        for x in (A, A.tocsc(), A.tocsr(), A.tobsr((2, 3))):
            np.testing.assert_allclose(make(x).toarray(), S.toarray(), rtol=1e-14)


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_mlx_files_hold_coo_and_csc(tmp_path, suffix):
    A, S, _ = coo_case((9, 13), "duplicates", seed=10)
    A = A.astype(mx.float32)
    K = A.tocsc()
    path = str(tmp_path / f"w.{suffix}")
    if suffix == "npz":
        ms.savez(path, coo=A, csc=K)
    else:
        ms.save_safetensors(path, {"coo": A, "csc": K})
    out = ms.load(path)
    assert isinstance(out["coo"], ms.COOArray) and out["coo"].nnz == A.nnz  # duplicates kept
    assert isinstance(out["csc"], ms.CSCArray) and out["csc"].shape == K.shape
    for name, B in (("coo", A), ("csc", K)):
        np.testing.assert_array_equal(out[name].toarray(), B.toarray())
    np.testing.assert_array_equal(np.asarray(out["coo"].row), np.asarray(A.row))
    np.testing.assert_array_equal(np.asarray(out["csc"].indptr), np.asarray(K.indptr))
