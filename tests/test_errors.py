"""Every error: shape and dtype errors in signature form, invalid structure reaching the
kernels (an error naming the op at evaluation, never a crash), vmap and grad misuse."""

import subprocess
import tempfile
import sys

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import GPU_TESTS, random_case

ERRORS = (ValueError, RuntimeError, IndexError)


@pytest.fixture
def A():
    return random_case((7, 11), seed=1).csr(mx.float32)


# ---- shapes

def test_spmv_dimension_mismatch(A):
    with pytest.raises(ValueError, match=r"\[csr_spmv\] dimension mismatch with signature "
                                         r"\(m=7,n=11\),\(\.\.\.,n=11\)->\(\.\.\.,m\).*\(10,\)"):
        A @ mx.ones((10,))
    with pytest.raises(ValueError, match=r"\[csr_spmv\] dimension mismatch.*\(3, 10\)"):
        ms.spmv(A, mx.ones((3, 10)))
    with pytest.raises(ValueError, match=r"\[csr_spmv\] dimension mismatch.*\^T.*m=7.*\(11,\)"):
        ms.matmul(mx.ones((11,)), A)
    with pytest.raises(ValueError, match=r"\[csr_spmv\] dimension mismatch"):
        ms.spmv(A, mx.array(1.0))


def test_spmm_dimension_mismatch(A):
    with pytest.raises(ValueError, match=r"\[csr_spmm\] dimension mismatch with signature "
                                         r"\(m=7,n=11\),\(\.\.\.,n=11,k\)->\(\.\.\.,m,k\).*\(12, 3\)"):
        A @ mx.ones((12, 3))
    with pytest.raises(ValueError, match=r"\[csr_spmm\] dimension mismatch.*\(2, 10, 3\)"):
        A @ mx.ones((2, 10, 3))
    with pytest.raises(ValueError, match=r"\[csr_spmm\] dimension mismatch.*\^T"):
        ms.matmul(mx.ones((3, 11)), A)  # needs (..., p, 7)
    with pytest.raises(ValueError, match=r"\[csr_spmm\] dimension mismatch"):
        np.ones((3, 11)) @ A


def test_spmm_batch_dims_do_not_broadcast(A):
    with pytest.raises(ValueError, match=r"\[csr_spmm\] batch dimensions do not broadcast"):
        ms._ext.csr_spmm(A.indptr, A.indices, mx.ones((2, A.nnz)), mx.ones((3, 11, 4)), 11)
    with pytest.raises(ValueError, match=r"\[csr_spmm\] data must have shape \(\.\.\., nnz\)"):
        ms._ext.csr_spmm(A.indptr, A.indices, mx.ones((A.nnz + 1,)), mx.ones((11, 4)), 11)
    with pytest.raises(ValueError, match=r"\[csr_spmv\] n_cols must be non-negative"):
        ms._ext.csr_spmv(A.indptr, A.indices, A.data, mx.ones((11,)), -1)


def test_sddmm_dimension_mismatch(A):
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] dimension mismatch.*\(12, 3\)"):
        ms.sddmm(A, mx.ones((7, 3)), mx.ones((12, 3)))
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] dimension mismatch.*m=7.*\(8, 3\)"):
        ms.sddmm(A, mx.ones((8, 3)), mx.ones((11, 3)))
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] dimension mismatch.*\(7, 3\).*\(11, 4\)"):
        ms.sddmm(A, mx.ones((7, 3)), mx.ones((11, 4)))
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] X and Y must be 2-D"):
        ms.sddmm(A, mx.ones((7,)), mx.ones((11, 3)))


def test_spgemm_dimension_mismatch(A):
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] dimension mismatch with signature "
                                         r"\(m,n=11\),\(n=7,k\)->\(m,k\)"):
        A @ A


def test_elementwise_shape_errors(A):
    with pytest.raises(ValueError, match=r"\[multiply\]"):
        A.multiply(mx.ones((7, 10)))
    with pytest.raises(ValueError, match=r"\[multiply\]"):
        A.multiply(ms.csr_array((7, 10)))
    with pytest.raises(ValueError, match=r"\[add\]"):
        A + ms.csr_array((11, 7))
    with pytest.raises(ValueError, match=r"\[sum\]"):
        A.sum(axis=3)


# ---- dtypes

@pytest.mark.parametrize("op", ["spmv", "spmm", "sddmm", "dense_at_sparse"])
def test_complex_operand_rejected(A, op):
    z = {"spmv": (11,), "spmm": (11, 3), "sddmm": (11, 3), "dense_at_sparse": (2, 7)}[op]
    Z = mx.zeros(z, dtype=mx.complex64)
    with pytest.raises(ValueError, match=r"\[csr_(spmv|spmm|sddmm)\] values must be real numbers.*complex"):
        {"spmv": lambda: A @ Z, "spmm": lambda: A @ Z,
         "sddmm": lambda: ms.sddmm(A, mx.ones((7, 3)), Z),
         "dense_at_sparse": lambda: ms.matmul(Z, A)}[op]()


def test_bool_values_rejected():
    ip, ix = mx.array([0, 1]), mx.array([0])
    with pytest.raises(ValueError, match=r"\[csr_todense\] values must be real numbers but got bool"):
        ms._ext.csr_todense(ip, ix, mx.ones((1,), dtype=mx.bool_), 2)
    with pytest.raises(ValueError, match=r"\[csr_spmv\] values must be real numbers but got bool"):
        ms._ext.csr_spmv(ip, ix, mx.ones((1,), dtype=mx.bool_), mx.ones((2,), dtype=mx.bool_), 2)
    with pytest.raises(TypeError, match=r"\[csr_array\] data must be floating point"):
        ms.CSRArray(mx.ones((1,), dtype=mx.int32), ix, ip, (1, 2))
    # bool values (comparisons' results) are stored; a product promotes them, as scipy's
    B = ms.CSRArray(mx.ones((1,), dtype=mx.bool_), ix, ip, (1, 2))
    np.testing.assert_array_equal(B.toarray(), [[True, False]])
    np.testing.assert_array_equal(np.array(B @ mx.full((2,), 2.0)), [2.0])


def test_complex_values_rejected():
    with pytest.raises(TypeError, match=r"\[csr_array\].*complex"):
        ms.csr_array((mx.ones((2,), dtype=mx.complex64), mx.array([0, 1]), mx.array([0, 1, 2])),
                     shape=(2, 2))
    with pytest.raises(TypeError, match=r"\[csr_array\]"):
        ms.csr_array(np.eye(2)).astype(mx.complex64)
    with pytest.raises(ValueError, match=r"\[csr_todense\] values must be real numbers"):
        ms._ext.csr_todense(mx.array([0, 1]), mx.array([0]), mx.ones((1,), dtype=mx.complex64), 2)


def test_index_dtype_errors_in_ops(A):
    ip, ix = A.indptr, A.indices
    with pytest.raises(ValueError, match=r"\[csr_spmm\] indptr and indices must both be int32 or "
                                         r"both int64.*int32.*int64"):
        ms._ext.csr_spmm(ip, ix.astype(mx.int64), A.data, mx.ones((11, 2)), 11)
    with pytest.raises(ValueError, match=r"\[csr_spmv\] indptr and indices must both be int32.*float32"):
        ms._ext.csr_spmv(ip.astype(mx.float32), ix, A.data, mx.ones((11,)), 11)
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] indptr and indices must be 1-D"):
        ms._ext.csr_sddmm(ip, mx.reshape(ix, (1, -1)), mx.ones((7, 2)), mx.ones((11, 2)))
    with pytest.raises(ValueError, match=r"\[csr_todense\].*int16"):
        ms._ext.csr_todense(ip.astype(mx.int16), ix.astype(mx.int16), A.data, 11)
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] A, B and C must share one index dtype"):
        ms._ext.csr_spgemm(ip, ix, A.data, ip.astype(mx.int64), ix.astype(mx.int64), A.data,
                           ip, ix, 11)


def test_value_dtype_errors():
    with pytest.raises(TypeError, match=r"\[csr_array\].*int32"):
        ms.csr_array(np.eye(2)).astype(mx.int32)
    with pytest.raises(TypeError, match=r"\[csr_array\].*int8"):
        ms.csr_array(np.eye(2)).astype(mx.float32, mx.int8)


# ---- invalid structure reaching the kernels: an error at evaluation, never a crash

def unchecked(indices, indptr, shape=(3, 4), index_dtype=None):
    return ms.csr_array((np.ones(len(indices), np.float32), np.array(indices, dtype=np.int64),
                         np.array(indptr, dtype=np.int64)), shape=shape, index_dtype=index_dtype)


PRODUCTS = {
    "spmv": (lambda M: M @ mx.ones((4,)), "csr_spmv"),
    "spmm": (lambda M: M @ mx.ones((4, 5)), "csr_spmm"),
    "spmm_k65": (lambda M: M @ mx.ones((4, 65)), "csr_spmm"),
    "spmm_batched": (lambda M: M @ mx.ones((2, 4, 3)), "csr_spmm"),
    "vec_at_sparse": (lambda M: ms.matmul(mx.ones((3,)), M), "csr_spmv"),
    "dense_at_sparse": (lambda M: ms.matmul(mx.ones((2, 3)), M), "csr_spmm"),
    "sum_rows": (lambda M: M.sum(axis=1), "csr_spmv"),
    "sum_cols": (lambda M: M.sum(axis=0), "csr_spmv"),
    "sddmm": (lambda M: ms.sddmm(M, mx.ones((3, 2)), mx.ones((4, 2))).data, "csr_sddmm"),
    "todense": (lambda M: M.todense(), "csr_todense"),
    "transpose": (lambda M: M.T.data, "csr_transpose"),
    "spgemm": (lambda M: (M @ ms.csr_array(np.ones((4, 2), np.float32))).data, "csr_spgemm|coo_tocsr"),
}


@pytest.mark.parametrize("op", PRODUCTS)
@pytest.mark.parametrize("bad", [4, 5, -1, 10**6, 2**40])
def test_out_of_range_column(op, bad):
    fun, name = PRODUCTS[op]
    M = unchecked([0, bad, 1], [0, 2, 2, 3])
    with pytest.raises(ERRORS, match=rf"\[({name})\].*out of range"):
        mx.eval(fun(M))
    # the library keeps working afterwards
    np.testing.assert_array_equal(np.array(ms.csr_array(np.eye(3, dtype=np.float32)) @ mx.ones((3,))),
                                  np.ones(3))


@pytest.mark.parametrize("op", PRODUCTS)
@pytest.mark.parametrize("indptr", [[0, 3, 1, 3], [0, -1, 2, 3], [0, 7, 2, 3], [0, 1, 5, 3]])
def test_invalid_indptr(op, indptr):
    fun, name = PRODUCTS[op]
    M = unchecked([0, 1, 2], indptr)
    with pytest.raises(ERRORS, match=rf"\[({name})\].*indptr"):
        mx.eval(fun(M))


@pytest.mark.parametrize("index_dtype", [mx.int32, mx.int64], ids=["i32", "i64"])
def test_out_of_range_column_raises_when_the_op_is_built(index_dtype):
    """The pattern is checked once, when its first op is built, on every device."""
    M = unchecked([0, 9, 1], [0, 2, 2, 3], index_dtype=index_dtype)
    with pytest.raises(ValueError, match=r"\[csr_spmm\] column index 9 is out of range for 4"):
        M @ mx.ones((4, 3))


def test_canonicalising_invalid_structure_raises():
    with pytest.raises(ERRORS, match=r"out of range"):
        mx.eval(unchecked([4, 1, 0], [0, 2, 2, 3]).sum_duplicates().data)
    with pytest.raises(ERRORS, match=r"out of range"):
        mx.eval(unchecked([4, 1, 0], [0, 2, 2, 3]).sort_indices().data)
    with pytest.raises(ERRORS, match=r"indptr"):
        mx.eval(unchecked([2, 1, 0], [0, 3, 1, 3]).sum_duplicates().data)


@pytest.mark.parametrize("bad", [4, 7])
def test_multiply_dense_out_of_range_column(bad):
    """multiply gathers the dense operand at (row, col): a bad column must raise, not read
    another element."""
    M = unchecked([0, bad, 1], [0, 2, 2, 3])
    with pytest.raises(ERRORS, match=r"out of range"):
        mx.eval(M.multiply(mx.arange(12, dtype=mx.float32).reshape(3, 4)).data)


def test_multiply_sparse_out_of_range_column():
    M = unchecked([0, 4, 1], [0, 2, 2, 3])  # (0, 4) must not alias (1, 0)
    with pytest.raises(ERRORS, match=r"out of range"):
        mx.eval(M.multiply(ms.csr_array(np.ones((3, 4), np.float32))).data)


def test_multiply_dense_huge_column_does_not_crash():
    code = """
import mlx.core as mx, numpy as np, mlx_sparse as ms
M = ms.csr_array((np.ones(3, np.float32), np.array([0, 2**40, 1]), np.array([0, 2, 2, 3])), shape=(3, 4))
try:
    mx.eval(M.multiply(mx.ones((3, 4))).data)
    print("no error")
except (ValueError, RuntimeError, IndexError) as e:
    print("raised:", e)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tempfile.gettempdir())
    assert run.returncode == 0, f"crashed with return code {run.returncode}: {run.stderr[-500:]}"
    assert "raised:" in run.stdout and "out of range" in run.stdout, run.stdout


# ---- transforms misuse

def test_vmap_over_indices_raises(A):
    ixs = mx.stack([A.indices, A.indices])
    ips = mx.stack([A.indptr, A.indptr])
    x, B = mx.ones((11,)), mx.ones((11, 2))
    with pytest.raises(ValueError, match=r"\[csr_spmv\] vmap over the sparse structure"):
        mx.vmap(lambda ix: ms._ext.csr_spmv(A.indptr, ix, A.data, x, 11))(ixs)
    with pytest.raises(ValueError, match=r"\[csr_spmm\] vmap over the sparse structure"):
        mx.vmap(lambda ip: ms._ext.csr_spmm(ip, A.indices, A.data, B, 11))(ips)
    with pytest.raises(ValueError, match=r"\[csr_sddmm\] vmap over the sparse structure"):
        mx.vmap(lambda ix: ms._ext.csr_sddmm(A.indptr, ix, mx.ones((7, 2)), B))(ixs)
    with pytest.raises(ValueError, match=r"\[csr_todense\] vmap over the sparse structure"):
        mx.vmap(lambda ix: ms._ext.csr_todense(A.indptr, ix, A.data, 11))(ixs)


def test_scalar_matmul_raises(A):
    for scalar in (2, 2.0, mx.array(2.0), np.float32(2.0)):
        with pytest.raises(ValueError, match=r"\[matmul\] scalar operands are not allowed"):
            A @ scalar
        with pytest.raises(ValueError, match=r"\[matmul\] scalar operands are not allowed"):
            ms.matmul(scalar, A)
    with pytest.raises(ValueError, match=r"\[matmul\] scalar operands"):
        2 @ A


def test_transpose_axes_error(A):
    with pytest.raises(ValueError, match=r"\[csr_transpose\] axes must be None or \(1, 0\)"):
        A.transpose((0, 1))


def test_unsupported_python_protocols(A):
    assert (A != A).nnz == 0  # comparisons are elementwise, as scipy's
    with pytest.raises(TypeError):
        len(A)
    with pytest.raises(TypeError):
        list(A)


# ---- value dtypes: only float16, bfloat16, float32 and float64 ever reach a kernel

_IP, _IX = mx.array([0, 1, 3]), mx.array([1, 0, 1])
VALUE_OPS = {
    "spmv": lambda v: ms._ext.csr_spmv(_IP, _IX, v, mx.ones((2,), v.dtype), 2),
    "spmv_t": lambda v: ms._ext.csr_spmv(_IP, _IX, v, mx.ones((2,), v.dtype), 2, True),
    "spmm": lambda v: ms._ext.csr_spmm(_IP, _IX, v, mx.ones((2, 3), v.dtype), 2),
    "spmm_t": lambda v: ms._ext.csr_spmm(_IP, _IX, v, mx.ones((2, 20), v.dtype), 2, True),
    "sddmm": lambda v: ms._ext.csr_sddmm(_IP, _IX, mx.ones((2, 3), v.dtype), mx.ones((2, 3), v.dtype)),
    "softmax": lambda v: ms._ext.csr_softmax(_IP, _IX, v, 2),
    "todense": lambda v: ms._ext.csr_todense(_IP, _IX, v, 2),
    "sum_duplicates": lambda v: ms._ext.csr_sum_duplicates(v, mx.array([0, 1, 1]), 2),
    "spgemm": lambda v: ms._ext.csr_spgemm(_IP, _IX, v, _IP, _IX, v, _IP, _IX, 2),
}


@pytest.mark.parametrize("op", VALUE_OPS)
@pytest.mark.parametrize("dtype", [mx.complex64, mx.bool_], ids=["complex64", "bool"])
def test_unsupported_values_refused_when_the_op_is_built(op, dtype):
    """Refused by the op (the thread that builds the graph), never met by a kernel."""
    with pytest.raises(ValueError, match=r"^\[csr_[a-z_]+\] values must be real numbers"):
        VALUE_OPS[op](mx.ones((3,), dtype))


@pytest.mark.parametrize("op", VALUE_OPS)
@pytest.mark.parametrize("dtype", [mx.int8, mx.uint16, mx.int32, mx.uint64],
                         ids=["int8", "uint16", "int32", "uint64"])
def test_integer_values_compute_in_float32(op, dtype):
    out = VALUE_OPS[op](mx.array([1, 2, 3], dtype))
    mx.eval(out)
    assert out.dtype == mx.float32


@pytest.mark.skipif(not mx.is_available(mx.gpu), reason="needs a GPU stream")
def test_float64_on_a_gpu_stream_raises_when_built():
    """Said when the graph is built, naming the op, not when the GPU evaluates it."""
    A64 = ms.csr_array(np.eye(3), dtype=mx.float64)
    with mx.stream(mx.gpu):
        for op, f in (("csr_spmm", lambda: A64 @ mx.ones((3, 2), dtype=mx.float64)),
                      ("csr_spmv", lambda: A64 @ np.ones(3)),
                      ("csr_todense", lambda: A64.todense()),
                      ("csr_softmax", lambda: ms.softmax(A64))):
            with pytest.raises(ValueError, match=rf"\[{op}\] float64 is not supported on the GPU"):
                f()
