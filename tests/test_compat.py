"""mlx-sparse's names (csr_matvec, csr_matmul, csr_matmat, CSRArray((data, indices, indptr),
shape=...), use_device, validate=): they work as ours do, against scipy, and warn once with
the name to use."""

import mlx.core as mx
import numpy as np
import pytest
from conftest import assert_close, rand, random_case, to_mx

import mlx_sparse as ms
from mlx_sparse import _compat

F64 = mx.float64


@pytest.fixture(autouse=True)
def fresh_warnings():
    _compat._WARNED.clear()
    yield
    _compat._WARNED.clear()


def test_products_as_scipy_and_warn_once():
    case = random_case((13, 11), "duplicates", seed=1)
    A, S = case.csr(F64), case.scipy()
    x, X = rand(11, seed=2), rand((11, 4), seed=3)
    with pytest.warns(DeprecationWarning, match=r"\[csr_matvec\] is mlx-sparse's name; in mlx_sparse use A @ x"):
        assert_close(ms.csr_matvec(A, to_mx(x, F64)), S @ x, F64)
    with pytest.warns(DeprecationWarning, match=r"\[csr_matmul\].*A @ B \(ms.spmm\)"):
        assert_close(ms.csr_matmul(A, to_mx(X, F64)), S @ X, F64)
    B = random_case((11, 7), "unsorted", seed=4)
    with pytest.warns(DeprecationWarning, match=r"\[csr_matmat\].*ms.spgemm"):
        C = ms.csr_matmat(A, B.csr(F64))
    assert isinstance(C, ms.CSRArray) and C.has_canonical_format
    np.testing.assert_allclose(C.toarray(), (S @ B.scipy()).toarray(), rtol=1e-12, atol=1e-14)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        ms.csr_matvec(A, to_mx(x, F64))


def test_products_refuse_what_they_cannot_take():
    A = ms.csr_array(np.eye(3))
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError, match=r"\[csr_matvec\] x must be a vector"):
            ms.csr_matvec(A, mx.ones((3, 2)))
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError, match=r"\[csr_matmul\] B must be a matrix"):
            ms.csr_matmul(A, mx.ones((3,)))
    with pytest.warns(DeprecationWarning):
        with pytest.raises(TypeError, match=r"\[csr_matmat\] expects a CSRArray first, got CSCArray"):
            ms.csr_matmat(A.tocsc(), A)


def test_csrarray_from_a_triple():
    case = random_case((7, 11), "unsorted", seed=5)
    with pytest.warns(DeprecationWarning, match=r"ms.csr_array\(\(data, indices, indptr\)"):
        A = ms.CSRArray((to_mx(case.data, F64), case.indices, case.indptr), shape=case.shape)
    np.testing.assert_array_equal(A.toarray(), case.dense())
    assert not A.has_sorted_indices
    with pytest.raises(TypeError, match=r"\[csr_array\] CSRArray takes"):
        ms.CSRArray((case.data, case.indices), shape=case.shape)


def test_validate_modes():
    bad = (np.ones(2), np.array([0, 7]), np.array([0, 1, 2]))
    with pytest.warns(DeprecationWarning, match=r"\[validate=\]"):
        for mode in ("metadata", False, "none"):
            A = ms.csr_array(bad, shape=(2, 3), validate=mode)  # the O(nnz) checks are not run
            assert A.nnz == 2
    for mode in ("full", True):
        with pytest.raises(ValueError, match=r"\[csr_array\] column index 7 is out of range"):
            ms.csr_array(bad, shape=(2, 3), validate=mode)
        with pytest.raises(ValueError, match=r"\[csc_array\] row index 7 is out of range"):
            ms.csc_array(bad, shape=(3, 2), validate=mode)
    with pytest.raises(ValueError, match=r"\[csr_array\] validate must be"):
        ms.csr_array(bad, shape=(2, 3), validate="sometimes")
    _compat._WARNED.clear()
    with pytest.warns(DeprecationWarning, match=r"validate=") as record:
        C = ms.coo_array((np.ones(1), (np.array([0]), np.array([1]))), shape=(1, 2), validate="full")
    assert C.nnz == 1 and record[0].filename == __file__  # the warning points at the caller


def test_use_device():
    with pytest.warns(DeprecationWarning, match=r"\[use_device\].*ms.use_gpu\(\) or ms.use_cpu\(\)"):
        assert ms.use_device("CPU") == mx.cpu
    assert mx.default_device() == mx.cpu
    with pytest.raises(ValueError, match=r"\[use_device\] device must be 'cpu' or 'gpu'"):
        ms.use_device("tpu")
    with pytest.raises(ValueError, match=r"\[use_device\] MLX has one device of each kind"):
        ms.use_device("cpu", 1)
