"""Reproducers of the bad-input campaign (issue 11) on the Python side: each gave a crash,
garbage, a silently wrong value or an unclear error, and now gives scipy's result or a
clear error that names the op."""

import copy
import pickle

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_TESTS, to_np


@pytest.fixture
def S():
    return sp.random(6, 5, density=0.4, format="csr", dtype=np.float64, random_state=0)


@pytest.fixture
def A(S):
    return ms.csr_array(S, dtype=mx.float32)


# ---- a CSRArray is a dict for MLX's trees only

def test_item_assignment_refused(A):
    before = A.toarray()
    with pytest.raises(TypeError, match=r"\[csr_array\] item assignment"):
        A["indices"] = A.indices
    for mutate in (lambda: A.update(x=1), lambda: A.pop("data"), lambda: A.setdefault("x", 1),
                   lambda: A.clear(), lambda: A.popitem(), lambda: A.__delitem__("data")):
        with pytest.raises(TypeError, match=r"\[csr_array\]"):
            mutate()
    assert list(dict.keys(A)) == ["data"]
    np.testing.assert_array_equal(A.toarray(), before)


def test_foreign_keys_refused(A):
    with pytest.raises(KeyError, match=r"\[csr_array\] a CSRArray holds no key but 'data'"):
        A["indices"]
    with pytest.raises(TypeError, match=r"\[csr_array\]"):
        A |= {"x": 1}
    assert list(dict.keys(A)) == ["data"]


def test_data_assignment_checked(A):
    A["data"] = A.data * 2  # what MLX's tree updates (Module.update, compile) do
    with pytest.raises(ValueError, match=r"\[csr_array\] data must be an mx.array of shape \(\.\.\., 12\)"):
        A["data"] = mx.ones((3,))
    with pytest.raises(ValueError, match=r"\[csr_array\] data"):
        A["data"] = np.ones(12)


def test_grad_still_returns_values_gradient(A):
    x = mx.ones((5,))
    g = mx.grad(lambda M: (M @ x).sum())(A)
    assert list(g.keys()) == ["data"]
    np.testing.assert_allclose(np.array(g["data"]), np.ones(A.nnz))


# ---- pickling keeps the dtype and the pattern

@pytest.mark.parametrize("dtype", [mx.float64, mx.float32, mx.float16, mx.bfloat16])
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_keep_values(S, dtype, how):
    if GPU_TESTS and dtype == mx.float64:
        pytest.skip("float64 is CPU-only in MLX")
    A = ms.csr_array(S, dtype=dtype)
    B = pickle.loads(pickle.dumps(A)) if how == "pickle" else copy.deepcopy(A)
    assert B.dtype == dtype and B.shape == A.shape and B.index_dtype == A.index_dtype
    np.testing.assert_array_equal(to_np(B.data), to_np(A.data))
    np.testing.assert_array_equal(np.array(B.indices), np.array(A.indices))
    assert B.has_canonical_format == A.has_canonical_format


# ---- indices never wrap

def test_int32_index_dtype_refuses_indices_beyond_int32():
    big = np.array([2**32 + 1])  # wraps to 1 as int32: a valid column, silently wrong
    with pytest.raises(ValueError, match=r"\[csr_array\] index 4294967297 does not fit index_dtype=int32"):
        ms.csr_array((np.ones(1), big, np.array([0, 1])), shape=(1, 4), index_dtype=mx.int32)
    with pytest.raises(ValueError, match=r"\[csr_array\] index 4294967297 does not fit index_dtype=int32"):
        ms.csr_array((np.ones(1), (np.array([0]), big)), shape=(1, 4), index_dtype="int32")
    A = ms.csr_array((np.ones(1), big, np.array([0, 1])), shape=(1, 4))
    assert A.index_dtype == mx.int64
    with pytest.raises(ValueError, match=r"column index 4294967297 is out of range for 4 columns"):
        A.astype(mx.float32, mx.int32)


def test_uint64_indices_beyond_int64_refused():
    with pytest.raises(ValueError, match=r"\[csr_array\] indices holds 9223372036854775809"):
        ms.csr_array((np.ones(1), np.array([2**63 + 1], dtype=np.uint64), np.array([0, 1])), shape=(1, 4))
    A = ms.csr_array((np.ones(1), np.array([3], dtype=np.uint64), np.array([0, 1], dtype=np.uint64)),
                     shape=(1, 4))
    np.testing.assert_array_equal(A.toarray(), [[0, 0, 0, 1]])


# ---- shapes, dtypes and operands as users write them

@pytest.mark.parametrize("shape", [(3.7, 4), (3, 4.0), ("3", 4), (3,), None.__class__])
def test_shape_must_be_integers(shape):
    with pytest.raises(TypeError, match=r"\[csr_array\] shape must be a pair of integers"):
        ms.csr_array((np.ones(1), np.array([1]), np.array([0, 1, 1, 1])), shape=shape)


def test_numpy_integer_shape_accepted():
    A = ms.csr_array((np.ones(1), np.array([1]), np.array([0, 1, 1, 1])), shape=(np.int64(3), np.int32(4)))
    assert A.shape == (3, 4) and all(type(v) is int for v in A.shape)


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.dtype("float32"), mx.float32])
def test_astype_takes_numpy_dtypes_and_names(A, dtype):
    assert A.astype(dtype).dtype == mx.float32
    assert ms.csr_array(A, dtype=dtype).dtype == mx.float32


def test_astype_names(A):
    assert A.astype("bfloat16").dtype == mx.bfloat16
    assert A.astype(np.float16, np.int64).index_dtype == mx.int64
    for bad in (np.int32, "int8", None, mx.complex64, "float128x"):
        with pytest.raises(TypeError, match=r"\[csr_array\] dtype must be one of float32, float16, bfloat16, float64"):
            A.astype(bad)
    with pytest.raises(TypeError, match=r"\[csr_array\] index_dtype must be one of int32, int64"):
        A.astype(mx.float32, np.int16)


@pytest.mark.parametrize("op", [lambda A: A * 1j, lambda A: 1j * A, lambda A: A / 2j,
                                lambda A: A.multiply(np.complex64(1)), lambda A: A * mx.array(1j)])
def test_complex_scalars_refused(A, op):
    with pytest.raises(TypeError, match=r"\[(multiply|divide)\] complex values are not supported"):
        op(A)


@pytest.mark.parametrize("other", [None, "abc", object(), [None, 1]])
def test_matmul_with_non_array_is_a_clear_error(A, other):
    with pytest.raises(TypeError, match=r"\[matmul\] expected a dense array"):
        A @ other
    with pytest.raises(TypeError, match=r"\[csr_spmm\] expected a dense array"):
        ms.spmm(A, other)


def test_string_values_refused():
    with pytest.raises(TypeError, match=r"\[csr_array\] data must be numeric, got dtype <U1"):
        ms.csr_array((np.array(["a"]), np.array([1]), np.array([0, 1])), shape=(1, 4))
    with pytest.raises(TypeError, match=r"\[csr_array\] a dense array must be numeric"):
        ms.csr_array(np.array([["a", "b"]]))


def test_scipy_operands_as_scipy_users_write_them(A, S):
    S32 = S.astype(np.float32)
    np.testing.assert_allclose((A @ S32.T).toarray(), (S32 @ S32.T).toarray(), rtol=1e-5)
    np.testing.assert_allclose((S32.T @ A).toarray(), (S32.T @ S32).toarray(), rtol=1e-5)
    np.testing.assert_allclose((A + S32).toarray(), (S32 + S32).toarray(), rtol=1e-6)
    np.testing.assert_allclose(A.multiply(S32).toarray(), S32.multiply(S32).toarray(), rtol=1e-6)
    with pytest.raises(TypeError, match=r"\[csr_spmm\] a scipy.sparse operand must be made a CSRArray"):
        ms.spmm(A, S32)


def test_numpy_functions(A, S):
    X = np.arange(12.0).reshape(2, 6)
    np.testing.assert_allclose(np.dot(X, A), X @ S.toarray(), rtol=1e-5)
    np.testing.assert_allclose(X @ A, X @ S.toarray(), rtol=1e-5)
    with pytest.raises(TypeError, match="does not support ufuncs"):  # numpy's own words
        np.matmul(X, A)
    np.testing.assert_allclose(np.dot(A, np.ones(5)), S.toarray() @ np.ones(5), rtol=1e-5)
    with pytest.raises(TypeError, match=r"\[csr_array\] numpy.concatenate does not take a CSRArray"):
        np.concatenate([A, A])


# ---- bounded resources

def test_transpose_loop_makes_no_new_caches():
    """B = B.T in a loop while A lives grew memory without bound (+80 MiB per 1,000)."""
    for A in (ms.random(200, 300, density=0.05, seed=0),  # sorted rows
              ms.csr_array((np.ones(4), np.array([3, 1, 2, 2]), np.array([0, 2, 4])), shape=(2, 5))):
        B, caches = A, set()
        for _ in range(50):
            B = B.T
            mx.eval(B)
            caches.add(id(B._cache))
        assert len(caches) <= 3
        np.testing.assert_array_equal(B.toarray(), A.toarray())  # an even number of transposes


def test_transpose_loop_memory_is_bounded():
    A = ms.random(3000, 3000, density=0.002, seed=1)  # ~18k entries
    B = A
    for _ in range(20):
        B = B.T
    mx.eval(B)
    mx.clear_cache()
    before = mx.get_active_memory()
    for _ in range(500):
        B = B.T
        mx.eval(B)
    del B
    mx.clear_cache()
    assert mx.get_active_memory() - before < 2**20  # was ~40 MiB for 500 transposes


def test_first_check_memory_does_not_scale_with_columns():
    """A 3-entry matrix with 5 * 2**31 columns: the first check allocated 80 GiB."""
    n = 5 * 2**31
    A = ms.csr_array((np.ones(3, np.float32), np.array([0, 7, n - 1]), np.array([0, 2, 3])), shape=(2, n))
    A.check_format(full_check=True)
    A._require_valid("test")
    assert (A._lengths().max_row, A._lengths().max_col) == (2, 1)
    assert float(A.sum()) == 3.0


@pytest.mark.parametrize("other", [None, "abc", object()])
def test_subtract_with_non_array_is_a_clear_error(A, other):
    with pytest.raises(TypeError, match=r"\[subtract\] expected a dense array"):
        A - other


def test_subtract(A, S):
    D = S.toarray().astype(np.float32)
    np.testing.assert_allclose(np.array(A - np.ones((6, 5))), D - 1, rtol=1e-6)
    np.testing.assert_allclose((A - 2 * A).toarray(), -D, rtol=1e-6)
    np.testing.assert_allclose((A - S.astype(np.float32)).toarray(), 0 * D, atol=1e-7)
    assert (A - 0) is A


def test_transpose_with_traced_indices():
    """Inside mx.compile the structure is traced: A.T is lazy and caches nothing."""
    S = sp.random(5, 4, density=0.5, format="csr", dtype=np.float32, random_state=3)

    @mx.compile
    def f(values, indices, indptr):
        A = ms.CSRArray(values, indices, indptr, (5, 4), check=False)
        return A.T.todense()

    out = f(mx.array(S.data), mx.array(S.indices), mx.array(S.indptr))
    np.testing.assert_allclose(np.array(out), S.toarray().T, rtol=1e-6)


def test_row_sums_of_a_matrix_wider_than_mlx_shapes():
    n = 2**31 + 5
    A = ms.csr_array((np.array([1.0, 2.0, 4.0], np.float32), np.array([0, n - 1, 3]), np.array([0, 2, 3])),
                     shape=(2, n))
    np.testing.assert_array_equal(np.array(A.sum(axis=1)), [3.0, 4.0])
    g = mx.grad(lambda v: (A.with_data(v).sum(axis=1) * mx.array([1.0, 10.0])).sum())(A.data)
    np.testing.assert_array_equal(np.array(g), [1.0, 1.0, 10.0])


@pytest.mark.parametrize("where", [mx.gpu, mx.Device(mx.gpu)])
def test_float64_operand_on_the_gpu_is_refused_not_narrowed(where):
    A = ms.random(4, 3, density=0.5, seed=0)
    for x in (np.ones(3), mx.ones((3,), dtype=mx.float64)):
        with pytest.raises(ValueError, match=r"\[csr_spmv\] float64 is not supported on the GPU"):
            ms.spmv(A, x, stream=where)
    with pytest.raises(ValueError, match=r"\[matmul\] float64 is not supported on the GPU"):
        ms.matmul(np.ones((2, 4)), A, stream=where)
    assert ms.spmv(A, np.ones(3), stream=mx.cpu).dtype == mx.float64  # kept on the CPU


def test_float64_scipy_operand_on_the_gpu_is_refused():
    A = ms.random(4, 3, density=0.5, seed=0)
    S = sp.random(4, 3, density=0.5, format="csr", dtype=np.float64, random_state=0)
    with pytest.raises(ValueError, match=r"\[matmul\] float64 is not supported on the GPU"):
        ms.matmul(A, S.T, stream=mx.gpu)
