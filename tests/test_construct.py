"""Construction, conversion, flags, canonical forms and check_format of CSRArray."""

import pickle

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import (VARIANTS, index_dtypes, random_case, rows_canonical, rows_sorted, to_np,
                      value_dtypes)


def assert_same_matrix(A, expected, shape=None):
    assert isinstance(A, ms.CSRArray)
    assert A.shape == (shape or expected.shape)
    np.testing.assert_array_equal(to_np(A.todense()), expected)


# ---- constructor forms

@pytest.mark.parametrize("kind,shape", [
    (kind, shape) for kind in ["mx", "numpy", "list"] for shape in [(7, 11), (1, 1), (0, 4), (4, 0)]
    if not (kind == "list" and shape[0] == 0)  # a list cannot spell 0 rows of 4 columns
])
def test_from_dense(kind, shape):
    rng = np.random.default_rng(1)
    dense = np.where(rng.random(shape) < 0.3, rng.integers(-9, 9, shape), 0).astype(np.float32)
    arg = {"mx": mx.array(dense), "numpy": dense, "list": dense.tolist()}[kind]
    A = ms.csr_array(arg)
    assert_same_matrix(A, dense)
    assert A.nnz == np.count_nonzero(dense)
    # a list of Python floats is float64 to numpy, and float64 is preserved
    assert A.dtype == (mx.float64 if kind == "list" else mx.float32)
    assert A.index_dtype == mx.int32
    assert A.has_sorted_indices and A.has_canonical_format
    if dense.size:
        assert ms.csr_array(dense.astype(int).tolist()).dtype == mx.float32
    S = sp.csr_array(dense)
    np.testing.assert_array_equal(np.array(A.indptr), S.indptr)
    np.testing.assert_array_equal(np.array(A.indices), S.indices)


def test_from_dense_rejects_non_2d():
    with pytest.raises(ValueError, match=r"\[fromdense\].*\(3,\)"):
        ms.csr_array(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[fromdense\]"):
        ms.fromdense(mx.ones((2, 2, 2)))


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc", "lil", "dok"])
@index_dtypes
def test_from_scipy(fmt, index_dtype):
    S = sp.random(37, 29, density=0.2, format=fmt, dtype=np.float64, random_state=3)
    A = ms.csr_array(S, index_dtype=index_dtype)
    assert A.index_dtype == index_dtype
    assert A.dtype == mx.float64
    assert A.nnz == S.tocsr().nnz
    assert_same_matrix(A, S.toarray())
    assert A.has_canonical_format


def test_from_scipy_matrix_and_dtype():
    S = sp.csr_matrix(sp.random(7, 11, density=0.4, dtype=np.float32, random_state=0))
    A = ms.csr_array(S)
    assert A.dtype == mx.float32
    assert_same_matrix(A, S.toarray())
    A16 = ms.csr_array(S, dtype=mx.float16)
    assert A16.dtype == mx.float16
    np.testing.assert_allclose(to_np(A16.todense()), S.toarray(), rtol=1e-3)


def test_from_scipy_non_canonical():
    S = sp.csr_array((np.array([1.0, 2.0, 3.0, 4.0]), np.array([3, 1, 1, 0]), np.array([0, 3, 4])),
                     shape=(2, 5))
    assert not S.has_canonical_format
    A = ms.csr_array(S)
    assert not A.has_canonical_format
    assert not A.has_sorted_indices
    assert A.nnz == 4
    assert_same_matrix(A, S.toarray())


def test_from_scipy_shape_mismatch():
    S = sp.random(3, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match=r"\[csr_array\].*\(4, 3\)"):
        ms.csr_array(S, shape=(4, 3))


@index_dtypes
def test_from_coo_sums_duplicates(index_dtype):
    row = np.array([2, 0, 2, 1, 2, 0])
    col = np.array([1, 3, 1, 0, 1, 0])
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    A = ms.csr_array((data, (row, col)), shape=(4, 5), index_dtype=index_dtype)
    expected = sp.coo_array((data, (row, col)), shape=(4, 5)).toarray()
    assert_same_matrix(A, expected)
    assert A.nnz == 4
    assert A.has_canonical_format
    assert A.index_dtype == index_dtype
    np.testing.assert_array_equal(np.array(A.indptr), [0, 2, 3, 4, 4])
    np.testing.assert_array_equal(np.array(A.indices), [0, 3, 0, 1])
    np.testing.assert_array_equal(np.array(A.data), [6.0, 2.0, 4.0, 9.0])


def test_from_coo_shape_inferred_and_mx_inputs():
    row, col = mx.array([0, 4, 4]), mx.array([6, 0, 0])
    A = ms.csr_array((mx.array([1.0, 2.0, 0.5]), (row, col)))
    assert A.shape == (5, 7)
    expected = np.zeros((5, 7))
    expected[0, 6], expected[4, 0] = 1.0, 2.5
    assert_same_matrix(A, expected)
    assert A.dtype == mx.float32


def test_from_coo_empty():
    A = ms.csr_array((np.zeros(0), (np.zeros(0, int), np.zeros(0, int))), shape=(3, 2))
    assert A.nnz == 0
    assert_same_matrix(A, np.zeros((3, 2)))


def test_from_coo_length_mismatch():
    with pytest.raises(ValueError, match=r"\[csr_array\]"):
        ms.csr_array((np.ones(3), (np.array([0, 1]), np.array([0, 1, 1]))), shape=(2, 2))


@index_dtypes
def test_from_csr_triplet(index_dtype):
    data, indices, indptr = np.array([1.0, 2.0, 3.0]), np.array([2, 0, 4]), np.array([0, 2, 2, 3])
    A = ms.csr_array((data, indices, indptr), shape=(3, 6), index_dtype=index_dtype)
    expected = sp.csr_array((data, indices, indptr), shape=(3, 6)).toarray()
    assert_same_matrix(A, expected)
    assert A.index_dtype == index_dtype
    np.testing.assert_array_equal(np.array(A.indices), indices)  # stored as given, not sorted
    np.testing.assert_array_equal(np.array(A.indptr), indptr)
    assert not A.has_sorted_indices


def test_from_csr_triplet_shape_inferred():
    data, indices, indptr = [1.0, 2.0, 3.0], [2, 0, 4], [0, 2, 2, 3]
    A = ms.csr_array((data, indices, indptr))
    assert A.shape == sp.csr_array((data, indices, indptr)).shape == (3, 5)
    B = ms.csr_array((np.zeros(0), np.zeros(0, int), np.zeros(4, int)))
    assert B.shape == (3, 0)


def test_from_csr_triplet_mx_and_flags():
    A = ms.csr_array((mx.array([1.0, 2.0]), mx.array([0, 1]), mx.array([0, 1, 2])), shape=(2, 2),
                     canonical=True)
    assert A.has_canonical_format and A.has_sorted_indices
    assert_same_matrix(A, np.eye(2) * [1.0, 2.0])


@pytest.mark.parametrize("shape", [(3, 4), (0, 0), (0, 5), (5, 0)])
def test_empty(shape):
    A = ms.csr_array(shape)
    assert A.shape == shape and A.nnz == 0
    assert A.dtype == mx.float32 and A.index_dtype == mx.int32
    assert A.has_canonical_format
    assert_same_matrix(A, np.zeros(shape))
    assert ms.csr_array(shape, dtype=mx.float64).dtype == mx.float64
    assert ms.csr_array(shape, index_dtype=mx.int64).index_dtype == mx.int64


def test_bad_tuple_and_shape():
    with pytest.raises(ValueError, match=r"\[csr_array\].*length 4"):
        ms.csr_array((1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"\[csr_array\].*\(2, -3\)"):
        ms.csr_array((np.ones(1), np.array([0]), np.array([0, 1, 1])), shape=(2, -3))
    with pytest.raises(TypeError, match=r"\[csr_array\].*int16"):
        ms.csr_array((3, 3), index_dtype=mx.int16)
    with pytest.raises(TypeError, match=r"\[csr_array\].*int32"):
        ms.csr_array(np.eye(2), dtype=mx.int32)


@value_dtypes
@index_dtypes
def test_from_csrarray_and_astype(dtype, index_dtype):
    S = sp.random(7, 11, density=0.4, format="csr", random_state=2)
    A = ms.csr_array(S)
    B = ms.csr_array(A, dtype=dtype, index_dtype=index_dtype)
    assert B.dtype == dtype and B.index_dtype == index_dtype
    assert B.indptr.dtype == index_dtype
    rtol = {mx.float64: 0, mx.float32: 1e-7, mx.float16: 1e-3, mx.bfloat16: 8e-3}[dtype]
    np.testing.assert_allclose(to_np(B.todense()), S.toarray(), rtol=rtol)
    C = A.astype(dtype, index_dtype)
    assert C.dtype == dtype and C.index_dtype == index_dtype
    np.testing.assert_allclose(to_np(C.todense()), S.toarray(), rtol=rtol)
    assert A.dtype == mx.float64 and A.index_dtype == mx.int32  # unchanged


def test_copy_is_independent():
    A = ms.csr_array(sp.random(5, 6, density=0.5, format="csr", random_state=4))
    B = A.copy()
    C = ms.csr_array(A, copy=True)
    before = A.toarray()
    B.data = B.data * 2
    C.data = C.data * 3
    np.testing.assert_array_equal(A.toarray(), before)
    np.testing.assert_array_equal(B.toarray(), 2 * before)
    np.testing.assert_array_equal(C.toarray(), 3 * before)
    assert A.tocsr() is A
    assert A.tocsr(copy=True) is not A


def test_data_setter_keeps_shape():
    A = ms.csr_array(np.eye(3))
    with pytest.raises(ValueError, match=r"\[csr_array\].*\(3,\).*\(2,\)"):
        A.data = mx.ones((2,))


def test_pickle_round_trip():
    case = random_case((7, 11), "unsorted", seed=5)
    A = case.csr(mx.float32)
    B = pickle.loads(pickle.dumps(A))
    assert B.shape == A.shape and B.dtype == A.dtype
    np.testing.assert_array_equal(B.toarray(), A.toarray())


# ---- values: dtypes

def test_integer_values_become_float32_when_exact():
    A = ms.csr_array(np.array([[1, 0], [0, 2**24]], dtype=np.int64))
    assert A.dtype == mx.float32
    assert_same_matrix(A, np.array([[1.0, 0.0], [0.0, 2.0**24]]))
    B = ms.csr_array((np.array([3, -7]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    assert B.dtype == mx.float32
    C = ms.csr_array((mx.array([3, 5]), (mx.array([0, 1]), mx.array([1, 0]))), shape=(2, 2))
    assert C.dtype == mx.float32
    assert_same_matrix(C, np.array([[0.0, 3.0], [5.0, 0.0]]))


def test_large_integer_values_become_float64():
    big = 2**24 + 1  # not representable in float32
    A = ms.csr_array((np.array([big, 1]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    assert A.dtype == mx.float64
    assert int(np.array(A.data)[0]) == big
    B = ms.csr_array(np.array([[0, big]], dtype=np.int64))
    assert B.dtype == mx.float64
    assert int(B.toarray()[0, 1]) == big
    C = ms.csr_array((mx.array([big, 2]), (mx.array([0, 0]), mx.array([0, 1]))), shape=(1, 2))
    assert C.dtype == mx.float64
    assert int(C.toarray()[0, 0]) == big


def test_large_integer_dense_mx_becomes_float64():
    big = 2**24 + 1
    A = ms.csr_array(mx.array([[0, big]]))
    assert A.dtype == mx.float64
    assert int(A.toarray()[0, 1]) == big


@pytest.mark.parametrize("npdt,mxdt", [(np.float64, mx.float64), (np.float32, mx.float32),
                                       (np.float16, mx.float16)])
def test_float_dtype_preserved(npdt, mxdt):
    x = np.array([[0.1, 0.0], [0.0, 1 / 3]], dtype=npdt)
    A = ms.csr_array(x)
    assert A.dtype == mxdt
    np.testing.assert_array_equal(to_np(A.todense()), x.astype(np.float64))
    if npdt != np.float16:  # scipy.sparse has no float16
        S = ms.csr_array(sp.csr_array(x))
        assert S.dtype == mxdt
        np.testing.assert_array_equal(to_np(S.todense()), x.astype(np.float64))


def test_bfloat16_values():
    x = np.array([[0.5, 0.0, -1.25]])
    A = ms.csr_array(x, dtype=mx.bfloat16)
    assert A.dtype == mx.bfloat16
    np.testing.assert_array_equal(to_np(A.todense()), x)
    B = ms.csr_array(mx.array(x.astype(np.float32)).astype(mx.bfloat16))
    assert B.dtype == mx.bfloat16 and B.nnz == 2


def test_index_dtype_defaults_and_large_indices():
    A = ms.csr_array((np.ones(1), np.array([3], dtype=np.int64), np.array([0, 1], dtype=np.int64)),
                     shape=(1, 4))
    assert A.index_dtype == mx.int32
    big = 2**31 + 5
    B = ms.csr_array((np.ones(1), np.array([big], dtype=np.int64), np.array([0, 1])),
                     shape=(1, big + 1))
    assert B.index_dtype == mx.int64
    assert int(np.array(B.indices)[0]) == big
    with pytest.raises(OverflowError, match=r"\[csr_array\]"):
        ms.csr_array((1, big), index_dtype=mx.int32)


# ---- fromdense

@pytest.mark.parametrize("threshold", [None, 0.0, 0.5, 0.99, 2.0])
def test_fromdense_threshold(threshold):
    rng = np.random.default_rng(7)
    dense = rng.uniform(-1, 1, (9, 13)) * (rng.random((9, 13)) < 0.6)
    A = ms.fromdense(mx.array(dense, dtype=mx.float64), threshold=threshold)
    keep = dense != 0 if threshold is None else np.abs(dense) > threshold
    expected = np.where(keep, dense, 0.0)
    assert A.nnz == int(keep.sum())
    assert A.has_canonical_format
    assert_same_matrix(A, expected)


def test_fromdense_dtypes():
    A = ms.fromdense(np.eye(3), dtype=mx.float16, index_dtype=mx.int64)
    assert A.dtype == mx.float16 and A.index_dtype == mx.int64
    np.testing.assert_array_equal(to_np(A.todense()), np.eye(3))


# ---- flags and repr

def test_repr_exact():
    S = sp.random(512, 512, density=0.002, format="csr", dtype=np.float32, random_state=0)
    A = ms.csr_array(S)
    assert repr(A) == (
        f"CSRArray(shape=(512, 512), nnz={S.nnz}, dtype=mlx.core.float32, "
        "index_dtype=mlx.core.int32, sorted_indices=True, has_canonical_format=True)"
    )
    B = ms.csr_array((np.ones(2), np.array([1, 0]), np.array([0, 2])), shape=(1, 2),
                     index_dtype=mx.int64)
    assert repr(B) == (
        "CSRArray(shape=(1, 2), nnz=2, dtype=mlx.core.float64, index_dtype=mlx.core.int64, "
        "sorted_indices=False, has_canonical_format=False)"
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_flags(variant):
    case = random_case((37, 29), variant, seed=1)
    A = case.csr()
    assert A.has_sorted_indices == rows_sorted(case.indptr, case.indices)
    assert A.has_canonical_format == rows_canonical(case.indptr, case.indices)
    expect_canonical = variant not in ("unsorted", "duplicates")
    assert A.has_canonical_format == expect_canonical
    assert A.has_sorted_indices == (variant != "unsorted")


def test_dict_protocol():
    A = ms.csr_array(np.eye(2))
    assert set(A.keys()) == {"data"}
    with pytest.raises(TypeError):
        len(A)
    with pytest.raises(TypeError):
        iter(A)
    with pytest.raises(ValueError):
        bool(A)
    assert bool(ms.csr_array(np.ones((1, 1))))
    assert A.format == "csr" and A.ndim == 2 and A.size == 2


# ---- conversions

@pytest.mark.parametrize("variant", VARIANTS)
@index_dtypes
def test_round_trips(variant, index_dtype):
    case = random_case((37, 29), variant, seed=2)
    A = case.csr(mx.float64, index_dtype)
    dense = case.dense()
    np.testing.assert_allclose(A.toarray(), dense, rtol=1e-14, atol=1e-15)
    td = A.todense()
    assert isinstance(td, mx.array) and td.dtype == mx.float64
    np.testing.assert_allclose(np.array(td), dense, rtol=1e-14, atol=1e-15)
    S = A.toscipy()
    assert isinstance(S, sp.csr_array) and S.shape == case.shape
    np.testing.assert_allclose(S.toarray(), dense, rtol=1e-14, atol=1e-15)
    coo = A.tocoo()
    assert isinstance(coo, ms.COOArray) and coo.shape == case.shape
    row, col, data = coo.row, coo.col, coo.data
    np.testing.assert_array_equal(np.array(row), case.rows)
    np.testing.assert_array_equal(np.array(col), case.indices)
    np.testing.assert_array_equal(np.array(data), case.data)
    B = ms.csr_array((data, (row, col)), shape=case.shape)
    np.testing.assert_allclose(B.toarray(), dense, rtol=1e-14, atol=1e-15)
    C = ms.csr_array(A.toarray())
    D = sp.csr_array(dense)
    D.eliminate_zeros()
    assert C.nnz == D.nnz


@value_dtypes
def test_todense_dtype(dtype):
    case = random_case((7, 11), "duplicates", seed=3)
    A = case.csr(dtype)
    out = A.todense()
    assert out.dtype == dtype and out.shape == (7, 11)
    np.testing.assert_allclose(to_np(out), case.dense(dtype),
                               rtol={mx.float64: 1e-14}.get(dtype, 1e-2), atol=1e-2)


@value_dtypes
def test_toarray_every_dtype(dtype):
    case = random_case((7, 11), seed=3)
    A = case.csr(dtype)
    out = A.toarray()
    assert isinstance(out, np.ndarray) and out.shape == (7, 11)
    np.testing.assert_array_equal(out.astype(np.float64), case.dense(dtype))
    S = A.toscipy()
    np.testing.assert_array_equal(S.toarray().astype(np.float64), case.dense(dtype))


# ---- canonical forms

@pytest.mark.parametrize("variant", VARIANTS)
def test_sort_indices(variant):
    case = random_case((37, 29), variant, seed=4)
    A = case.csr(mx.float64)
    assert A.sort_indices() is A
    assert A.has_sorted_indices
    assert A.nnz == case.nnz  # duplicates kept
    assert rows_sorted(A.indptr, A.indices)
    S = case.scipy()
    S.sort_indices()
    np.testing.assert_array_equal(np.array(A.indptr), S.indptr)
    np.testing.assert_array_equal(np.array(A.indices), S.indices)
    np.testing.assert_allclose(A.toarray(), case.dense(), rtol=1e-14, atol=1e-15)
    if variant == "unsorted":  # no duplicates: values follow their columns exactly
        np.testing.assert_array_equal(np.array(A.data), S.data)


@pytest.mark.parametrize("variant", VARIANTS)
@index_dtypes
def test_sum_duplicates(variant, index_dtype):
    case = random_case((37, 29), variant, seed=5)
    A = case.csr(mx.float64, index_dtype)
    assert A.sum_duplicates() is A
    assert A.has_canonical_format and A.has_sorted_indices
    assert A.index_dtype == index_dtype
    assert rows_canonical(A.indptr, A.indices)
    S = case.scipy()
    S.sum_duplicates()
    np.testing.assert_array_equal(np.array(A.indptr), S.indptr)
    np.testing.assert_array_equal(np.array(A.indices), S.indices)
    np.testing.assert_allclose(np.array(A.data), S.data, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("variant", VARIANTS)
def test_eliminate_zeros(variant):
    case = random_case((37, 29), variant, seed=6)
    A = case.csr(mx.float64)
    assert A.eliminate_zeros() is A
    S = case.scipy()
    S.eliminate_zeros()
    assert A.nnz == S.nnz
    np.testing.assert_array_equal(np.array(A.indptr), S.indptr)
    np.testing.assert_array_equal(np.array(A.indices), S.indices)
    np.testing.assert_array_equal(np.array(A.data), S.data)
    assert not np.any(np.array(A.data) == 0)


# ---- check_format

def triplet(data, indices, indptr, shape, **kw):
    return ms.csr_array((np.asarray(data, np.float32), np.asarray(indices), np.asarray(indptr)),
                        shape=shape, **kw)


def test_check_format_valid():
    A = triplet([1, 2, 3], [0, 2, 1], [0, 2, 2, 3], (3, 3))
    A.check_format()
    A.check_format(full_check=True)
    ms.csr_array((0, 0)).check_format(full_check=True)


@pytest.mark.parametrize("indptr,msg", [
    ([0, 2, 3], r"index pointer size 3 should be 4"),
    ([0, 1, 2, 3, 3], r"index pointer size 5 should be 4"),
    ([1, 2, 3, 3], r"start with 0, got 1"),
    ([0, 1, 2, 4], r"number of entries 3, got 4"),
    ([0, 1, 2, 2], r"number of entries 3, got 2"),
])
def test_check_format_o1_at_construction(indptr, msg):
    with pytest.raises(ValueError, match=r"\[csr_array\] .*" + msg):
        triplet([1, 2, 3], [0, 1, 2], indptr, (3, 3))


def test_check_format_mismatched_lengths():
    with pytest.raises(ValueError, match=r"\[csr_array\].*same size.*3 and 2"):
        triplet([1, 2], [0, 1, 2], [0, 1, 2, 3], (3, 3))


def test_check_format_wrong_dtypes():
    with pytest.raises(TypeError, match=r"\[csr_array\] indices must hold integers.*float"):
        ms.csr_array((np.ones(2), np.array([0.0, 1.0]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\] indptr must hold integers.*float"):
        ms.csr_array((np.ones(2), np.array([0, 1]), mx.array([0.0, 1.0, 2.0])), shape=(2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\].*int32 and mlx.core.int64"):
        ms.CSRArray(mx.ones(2), mx.array([0, 1], dtype=mx.int32), mx.array([0, 1, 2], dtype=mx.int64),
                    (2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\] data must be floating point.*int32"):
        ms.CSRArray(mx.array([1, 2]), mx.array([0, 1]), mx.array([0, 1, 2]), (2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\].*int16"):
        ms.CSRArray(mx.ones(2), mx.array([0, 1], dtype=mx.int16), mx.array([0, 1, 2], dtype=mx.int16),
                    (2, 2))


def test_check_format_wrong_ndim():
    with pytest.raises(ValueError, match=r"\[csr_array\] data must be 1-D.*\(1, 2\)"):
        ms.csr_array((np.ones((1, 2)), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"\[csr_array\] indices must be 1-D"):
        ms.csr_array((np.ones(2), np.array([[0, 1]]), np.array([0, 1, 2])), shape=(2, 2))


def test_check_format_full_decreasing_indptr():
    A = triplet([1, 2, 3], [0, 1, 2], [0, 3, 1, 3], (3, 3))  # passes the O(1) checks
    with pytest.raises(ValueError, match=r"\[csr_array\] index pointer \(indptr\) should not decrease \(row 1\)"):
        A.check_format(full_check=True)


@pytest.mark.parametrize("bad", [3, 7, -1])
def test_check_format_full_column_out_of_range(bad):
    A = triplet([1, 2, 3], [0, bad, 2], [0, 2, 2, 3], (3, 3))
    with pytest.raises(ValueError, match=rf"\[csr_array\] column index {bad} is out of range for 3"):
        A.check_format(full_check=True)


def test_check_format_full_false_promises():
    A = triplet([1, 2, 3], [1, 0, 2], [0, 2, 2, 3], (3, 3), sorted_indices=True)
    with pytest.raises(ValueError, match=r"\[csr_array\].*sorted"):
        A.check_format(full_check=True)
    B = triplet([1, 2, 3], [1, 1, 2], [0, 2, 2, 3], (3, 3), canonical=True)
    with pytest.raises(ValueError, match=r"\[csr_array\].*canonical"):
        B.check_format(full_check=True)
    C = triplet([1, 2, 3], [0, 1, 2], [0, 2, 2, 3], (3, 3), canonical=True)
    C.check_format(full_check=True)


def test_complex_values_rejected():
    with pytest.raises(TypeError, match=r"\[csr_array\].*complex"):
        ms.csr_array((np.ones(2, np.complex64), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\].*complex"):
        ms.csr_array(mx.array(np.eye(2).astype(np.complex64)))
    with pytest.raises(TypeError, match=r"\[csr_array\].*complex"):
        ms.csr_array(np.eye(2).astype(np.complex128))
