"""The products and elementwise ops on CSRArrays, and the ``@`` dispatcher of every format.

Every product is one of the C++ primitives (``csr_spmv``, ``csr_spmm``, ``csr_sddmm``,
``csr_spgemm``, and for BSR times dense on the CPU ``bsr_spmm``): lazy, differentiable with
respect to values and dense operands, usable in ``mx.compile`` and ``mx.vmap``. ``@`` on any
:class:`SparseArray` comes to :func:`matmul`; other BSR products go through the CSR form.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _ext
from ._base import SparseArray
from ._bsr import BSRArray
from ._csc import CSCArray, csc_product
from ._csr import _UNKNOWN_LENGTHS, CSRArray
from ._device import gpu_backend
from ._dtypes import INT32_MAX as _INT32_MAX, real_scalar


def _dense(x, op: str = "matmul", stream=None) -> mx.array:
    """An operand as an mx.array; numpy float64 stays float64 (on the GPU, which has no
    float64 in MLX, that is refused rather than narrowed). What MLX cannot hold (None,
    strings, objects) is refused here, naming the op; the ops refuse complex values."""
    if isinstance(x, mx.array):
        if x.dtype == mx.float64:
            _check_float64_device(op, stream)
        return x
    if _is_scipy_sparse(x):
        raise TypeError(f"[{op}] a scipy.sparse operand must be made a CSRArray first (ms.csr_array(S))")
    host = np.asarray(x)
    if host.dtype.kind not in "biufc":
        what = type(x).__name__ if host.dtype.kind == "O" else f"dtype {host.dtype}"
        raise TypeError(f"[{op}] expected a dense array (mx.array, numpy array or list) of numbers, got {what}")
    if host.dtype == np.float64:
        _check_float64_device(op, stream)
        return mx.array(host, dtype=mx.float64)
    return mx.array(host)


def _on_gpu(stream) -> bool:
    """Does a stream (or device, or None: the default) run on the GPU?"""
    where = mx.default_device() if stream is None else stream
    where = getattr(where, "device", where)  # a Stream's Device
    return getattr(where, "type", where) == mx.DeviceType.gpu  # a Device's type, or mx.gpu itself


def _check_float64_device(op: str, stream):
    if _on_gpu(stream):
        raise ValueError(
            f"[{op}] float64 is not supported on the GPU (MLX has none there): pass float32, "
            "e.g. np.asarray(x, np.float32), or use the CPU (stream=mx.cpu)"
        )


def _is_scipy_sparse(x) -> bool:
    return type(x).__module__.startswith("scipy.sparse")


def _sparse(x, op: str, stream=None, *, keep_bsr: bool = False):
    """A scipy.sparse operand as a CSRArray (scipy users write ``A @ S``), or as a BSRArray
    when it is BSR and ``keep_bsr``; another format of ours as a CSRArray unless
    ``keep_bsr``; else x. float64 values stay float64, so on the GPU they are refused as a
    dense operand's are."""
    if _is_scipy_sparse(x):
        from ._construct import csr_array

        if x.dtype == np.float64:
            _check_float64_device(op, stream)
        if keep_bsr and x.format == "bsr":
            from ._bsr import bsr_array

            return bsr_array(x)
        return csr_array(x)
    if isinstance(x, SparseArray) and not isinstance(x, CSRArray) and not keep_bsr:
        return x.tocsr()
    return x


def _csr_operand(A, op: str) -> CSRArray:
    """The sparse operand of a CSR op: a CSRArray itself, another format through its CSR
    form, a scipy array converted; anything else refused by name."""
    if type(A) is CSRArray:
        return A
    if isinstance(A, SparseArray) or _is_scipy_sparse(A):
        return _sparse(A, op)
    raise TypeError(f"[{op}] expects a sparse array, got {type(A).__name__}")


def spmv(A: CSRArray, x, *, stream=None) -> mx.array:
    """``A @ x`` for a vector x of shape (n,) (or a batch, (..., n)) -> (..., m)."""
    A = _csr_operand(A, "csr_spmv")
    x = _dense(x, "csr_spmv", stream)
    A._check_structure("csr_spmv")
    return _ext.csr_spmv(A.indptr, A.indices, A.data, x, A.shape[1], False, [], A._lengths(),
                         stream=stream)


def spmm(A: CSRArray, B, *, stream=None) -> mx.array:
    """``A @ B`` for dense B of shape (n, k) or (..., n, k) -> (..., m, k)."""
    A = _csr_operand(A, "csr_spmm")
    B = _dense(B, "csr_spmm", stream)
    A._check_structure("csr_spmm")
    return _ext.csr_spmm(A.indptr, A.indices, A.data, B, A.shape[1], False, A._transposed(),
                         A._lengths(), stream=stream)


def sddmm(A: CSRArray, X, Y, *, stream=None) -> CSRArray:
    """``X @ Y.T`` sampled at A's pattern, as a CSRArray with A's pattern.

    X is (m, k) and Y is (n, k); entry e of the result is ``<X[row(e)], Y[col(e)]>``. A's
    values are not used (``sddmm(A, X, Y).multiply(A)`` scales by them).
    """
    A = _csr_operand(A, "csr_sddmm")
    X, Y = _dense(X, "csr_sddmm", stream), _dense(Y, "csr_sddmm", stream)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(
            f"[csr_sddmm] X and Y must be 2-D, got shapes {tuple(X.shape)} and {tuple(Y.shape)}"
        )
    if Y.shape[0] != A.shape[1]:
        raise ValueError(
            f"[csr_sddmm] dimension mismatch with signature (m={A.shape[0]},n={A.shape[1]}),"
            f"(m,k),(n,k): Y has shape {tuple(Y.shape)}"
        )
    A._check_structure("csr_sddmm")
    values = _ext.csr_sddmm(A.indptr, A.indices, X, Y, stream=stream)
    return A._with_data(values)


def softmax(A: CSRArray, *, stream=None) -> CSRArray:
    """Row-wise softmax over the stored values, with A's pattern.

    Entry e becomes ``exp(A[e] - m) / sum(exp(A[q] - m))`` over the stored entries q of its
    row (m, the row's maximum, keeps it stable): the attention weights of a graph whose edges
    are A's pattern. Every stored entry counts, explicit zeros and duplicates included
    (``A.sum_duplicates()`` first merges duplicates); rows without entries stay empty.
    float16 and bfloat16 accumulate in float32. Differentiable in A's values.
    """
    A = _csr_operand(A, "csr_softmax")
    A._check_structure("csr_softmax")
    return A._with_data(_ext.csr_softmax(A.indptr, A.indices, A.data, A.shape[1], stream=stream))


def spgemm(A: CSRArray, B: CSRArray, *, stream=None) -> CSRArray:
    """``A @ B`` for two CSRArrays: a canonical CSRArray.

    The pattern comes from a symbolic phase (on the host for the CPU, hash tables per row on
    the GPU, which reads two sizes back); the values are a lazy primitive, differentiable in
    the values of A and B.
    """
    A, B = _csr_operand(A, "csr_spgemm"), _csr_operand(B, "csr_spgemm")
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"[csr_spgemm] dimension mismatch with signature (m,n={A.shape[1]}),(n={B.shape[0]},k)->(m,k)"
        )
    A._check_structure("csr_spgemm")
    B._check_structure("csr_spgemm")
    A, B = A._canonical_copy(stream), B._canonical_copy(stream)
    if A.index_dtype != B.index_dtype:
        A, B = A.astype(A.dtype, mx.int64), B.astype(B.dtype, mx.int64)
    indptr, indices = _spgemm_pattern(A, B, stream)
    values = _ext.csr_spgemm(A.indptr, A.indices, A.data, B.indptr, B.indices, B.data,
                             indptr, indices, B.shape[1], stream=stream)
    return CSRArray(values, indices, indptr, (A.shape[0], B.shape[1]), sorted_indices=True,
                    canonical=True, check=False)


def _spgemm_pattern(A: CSRArray, B: CSRArray, stream):
    """C's pattern (indptr, indices) from the symbolic phase. A's pattern keeps the last one,
    with B's pattern (its structure cache) as the key, so a loop that multiplies the same
    patterns with new values runs the symbolic phase once."""
    last = A._cache.get("spgemm")
    if last is not None and last[0] is B._cache:
        return last[1], last[2]
    indptr, indices = _ext.csr_spgemm_symbolic(A.indptr, A.indices, B.indptr, B.indices,
                                               B.shape[1], stream=stream)
    A._cache["spgemm"] = (B._cache, indptr, indices)
    return indptr, indices


def matmul(a, b, *, stream=None):
    """``a @ b`` where either operand is sparse (the other dense or sparse): the one
    dispatcher behind ``@`` of every format.

    sparse @ (n,) -> spmv; sparse @ (..., n, k) -> batched spmm; sparse @ sparse -> spgemm;
    dense (..., p, m) @ sparse (m, n) -> (..., p, n) through the transposed product.

    A :class:`BSRArray` times a dense operand (on either side) takes the block kernel
    ``bsr_spmm`` where it has kernels (:func:`bsr_kernels`: the CPU, CUDA and Metal);
    elsewhere it is multiplied through its CSR form (a fixed gather of its values). BSR (R, n)
    @ BSR (n, C) is a BSRArray of blocksize (R, C), as in scipy; any other sparse product
    (blocksizes that do not line up, a CSRArray operand) is a CSRArray (scipy gives a BSR
    there too). A batch of BSR matrices (B, M, N) maps
    the product over its batch: with a dense (N,), (N, k) or (B, N, k) operand, or on the
    right of a dense (p, M) or (B, p, M) one.
    """
    if getattr(a, "_batch", None) or getattr(b, "_batch", None):
        return _batched_product(a, b, stream)
    if type(a) is CSCArray or type(b) is CSCArray:
        return csc_product(a, b, stream)
    if type(b) is mx.array and b.ndim and isinstance(a, SparseArray):
        # the common case first, kept short: a small product pays this per call
        if type(a) is BSRArray and bsr_kernels(stream):
            return _bsr_spmm(a, b, stream)
        A = a if type(a) is CSRArray else a.tocsr()
        if A._transpose_of is not None and A._transpose_of[-1] is A["data"]:
            return _transposed_product(A._transpose_of, b, stream)
        if "valid" not in A._cache:
            A._require_valid("csr_spmv" if b.ndim == 1 else "csr_spmm")
        lengths = A._cache.get("lengths", _UNKNOWN_LENGTHS)
        if b.ndim == 1:
            return _ext.csr_spmv(A._indptr, A._indices, A["data"], b, A._shape[1], False, [],
                                 lengths, stream=stream)
        t = A._cache.get("T") or A._transposed()
        return _ext.csr_spmm(A._indptr, A._indices, A["data"], b, A._shape[1], False, t,
                             lengths, stream=stream)
    a, b = _sparse(a, "matmul", stream, keep_bsr=True), _sparse(b, "matmul", stream, keep_bsr=True)
    a_sparse, b_sparse = isinstance(a, SparseArray), isinstance(b, SparseArray)
    if a_sparse and b_sparse:
        return _sparse_product(a, b, stream)
    if not (a_sparse or b_sparse):
        return mx.matmul(_dense(a, "matmul", stream), _dense(b, "matmul", stream), stream=stream)
    if real_scalar(a, "matmul") is not None or real_scalar(b, "matmul") is not None:
        raise ValueError("[matmul] scalar operands are not allowed, use '*' instead")
    if a_sparse and isinstance(a, BSRArray) and bsr_kernels(stream):
        return _bsr_spmm(a, _dense(b, "matmul", stream), stream)
    if b_sparse and isinstance(b, BSRArray) and bsr_kernels(stream):
        # X @ A = (A^T @ X^T)^T, A^T's blocks gathered once per product
        x = _dense(a, "matmul", stream)
        y = _bsr_spmm(b.T, x if x.ndim == 1 else mx.swapaxes(x, -1, -2), stream)
        return y if x.ndim == 1 else mx.swapaxes(y, -1, -2)
    if a_sparse:
        a, b = a.tocsr(), _dense(b, "matmul", stream)
        if b.ndim == 1:
            return spmv(a, b, stream=stream)
        return spmm(a, b, stream=stream)
    A, x = b.tocsr(), _dense(a, "matmul", stream)
    A._check_structure("csr_spmv" if x.ndim == 1 else "csr_spmm")
    if x.ndim == 1:  # x @ A = A^T x
        return _ext.csr_spmv(A.indptr, A.indices, A.data, x, A.shape[1], True, A._transposed(),
                             A._lengths(), stream=stream)
    # X @ A = (A^T @ X^T)^T
    y = _ext.csr_spmm(A.indptr, A.indices, A.data, mx.swapaxes(x, -1, -2), A.shape[1], True,
                      A._transposed(), A._lengths(), stream=stream)
    return mx.swapaxes(y, -1, -2)


def _transposed_product(source: tuple, b: mx.array, stream) -> mx.array:
    """``A^T @ b`` by the products' transposed mode over A's cached transposed structure
    (source: A's arguments, kept by A.transpose()): A.T @ B at the cost of A @ B, its values
    never gathered (the op checks the shapes)."""
    indptr, indices, data, n_cols, transposed, lengths, _ = source
    product = _ext.csr_spmv if b.ndim == 1 else _ext.csr_spmm
    return product(indptr, indices, data, b, n_cols, True, list(transposed), lengths,
                   stream=stream)


def bsr_kernels(stream=None) -> bool:
    """Whether BSR products take the block kernels (``bsr_spmm``, ``bsr_sddmm``) on this
    stream or device: on the CPU and on the GPU (CUDA and Metal) of a build with kernels;
    elsewhere they go through the CSR form."""
    return not _on_gpu(stream) or gpu_backend() in ("cuda", "metal")


def _bsr_spmm(A: BSRArray, x: mx.array, stream) -> mx.array:
    """``A @ x`` for one BSR matrix and dense x, (n,) or (..., n, k), by bsr_spmm; A^T's
    block structure (found once per pattern) rides along for the gradient."""
    vector = x.ndim == 1
    if x.ndim == 0 or x.shape[-1 if vector else -2] != A._shape[1]:
        want = "(n)" if vector else "(...,n,k)"
        raise ValueError(
            f"[bsr_spmm] dimension mismatch with signature (m={A._shape[0]},n={A._shape[1]}),"
            f"{want}->{want.replace('n', 'm')}: the dense operand has shape {tuple(x.shape)}"
        )
    perm, t_indices, t_indptr, _ = A._transpose_structure()
    y = _ext.bsr_spmm(A._indptr, A._indices, A["data"], mx.expand_dims(x, -1) if vector else x,
                      [t_indptr, t_indices, perm], stream=stream)
    return y[..., 0] if vector else y


def _batched_product(a, b, stream):
    """A batch of BSR matrices times a dense operand: each matrix's product (the CSR
    kernels), mapped over the batch by mx.vmap; a dense operand with a batch pairs with it."""
    left = isinstance(a, SparseArray)
    A, x = (a, b) if left else (b, a)
    if isinstance(x, SparseArray) or _is_scipy_sparse(x):
        raise NotImplementedError(
            "[matmul] a batch of BSR matrices times a sparse array is not supported; multiply "
            "one matrix at a time, A[b] @ S"
        )
    x = _dense(x, "matmul", stream)
    B = A._batch[0]
    if x.ndim == 3 and x.shape[0] != B:
        raise ValueError(f"[matmul] a batch of {B} matrices {A.shape} cannot multiply an operand "
                         f"of shape {tuple(x.shape)}: its batch must be {B}")
    if x.ndim > 3:
        raise ValueError(f"[matmul] a batch of matrices {A.shape} multiplies an operand of at most "
                         f"3 dims, (B, n, k); got {tuple(x.shape)}")
    one = (lambda d, y: matmul(A._matrix(d), y, stream=stream)) if left else \
          (lambda d, y: matmul(y, A._matrix(d), stream=stream))
    return mx.vmap(one, in_axes=(0, 0 if x.ndim == 3 else None))(A["data"], x)


def _sparse_product(a: SparseArray, b: SparseArray, stream):
    """sparse @ sparse: an spgemm of the CSR forms; BSR (R, n) @ BSR (n, C) gives a BSRArray
    of blocksize (R, C): the product of full blocks is full blocks, so the CSR product's
    pattern is exactly scipy's block pattern."""
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"[csr_spgemm] dimension mismatch with signature (m,n={a.shape[1]}),(n={b.shape[0]},k)->(m,k)"
        )
    c = spgemm(a.tocsr(), b.tocsr(), stream=stream)
    if isinstance(a, BSRArray) and isinstance(b, BSRArray) and a.blocksize[1] == b.blocksize[0]:
        return c.tobsr((a.blocksize[0], b.blocksize[1]))
    return c


def multiply(A: CSRArray, other) -> CSRArray:
    """Elementwise product; the result keeps A's pattern (intersection with a sparse operand)."""
    A = _csr_operand(A, "multiply")
    if real_scalar(other, "multiply") is not None:
        return A._with_data(A.data * other)
    other = _sparse(other, "multiply")
    if isinstance(other, CSRArray):
        return _multiply_sparse(A, other)
    d = _dense(other, "multiply")
    if d.ndim > 2:
        raise ValueError(f"[multiply] a dense operand must have at most 2 dims, got {tuple(d.shape)}")
    try:
        np.broadcast_shapes(tuple(d.shape), A.shape)
    except ValueError:
        raise ValueError(
            f"[multiply] dense operand of shape {tuple(d.shape)} does not broadcast to {A.shape}"
        ) from None
    full = mx.broadcast_to(d, A.shape)
    A._require_valid("multiply")
    flat = A._rows().astype(mx.int64) * A.shape[1] + A.indices.astype(mx.int64)
    return A._with_data(A.data * mx.take(mx.reshape(full, (-1,)), flat))


def _multiply_sparse(A: CSRArray, B: CSRArray) -> CSRArray:
    if A.shape != B.shape:
        raise ValueError(f"[multiply] inconsistent shapes {A.shape} and {B.shape}")
    if (pair := _one_pattern(A, B)) is not None:
        return pair[0]._with_data(pair[0].data * pair[1].data)
    A, B = A._canonical_copy(), B._canonical_copy()
    A._require_valid("multiply")
    B._require_valid("multiply")
    n = A.shape[1]
    key_a = np.asarray(A._rows()).astype(np.int64) * n + np.asarray(A.indices)
    key_b = np.asarray(B._rows()).astype(np.int64) * n + np.asarray(B.indices)
    common, ia, ib = np.intersect1d(key_a, key_b, assume_unique=True, return_indices=True)
    idt = A.index_dtype
    npi = np.int32 if idt == mx.int32 else np.int64
    rows = common // n
    indptr = np.zeros(A.shape[0] + 1, dtype=npi)
    np.cumsum(np.bincount(rows, minlength=A.shape[0]), out=indptr[1:])
    data = mx.take(A.data, mx.array(ia.astype(npi))) * mx.take(B.data, mx.array(ib.astype(npi)))
    return CSRArray(data, mx.array((common % n).astype(npi)), mx.array(indptr), A.shape,
                    sorted_indices=True, canonical=True)


def _one_pattern(A: CSRArray, B: CSRArray):
    """Canonical forms of A and B when they are one pattern (they share its structure cache,
    as the arrays of ``A.with_data`` do), else None: then + and multiply only combine the
    values, entry by entry."""
    if A._cache is not B._cache:
        return None
    return A._canonical_copy(), B._canonical_copy()


def _promote(a, b):
    """The dtype of a + b for two floating dtypes (float16 with bfloat16 gives float32)."""
    return (mx.zeros((1,), dtype=a) + mx.zeros((1,), dtype=b)).dtype


def add(A: CSRArray, other):
    """``A + other``: sparse + sparse is sparse (union of patterns), sparse + dense is dense."""
    A = _csr_operand(A, "add")
    other = _sparse(other, "add")
    if isinstance(other, CSRArray):
        if A.shape != other.shape:
            raise ValueError(f"[add] inconsistent shapes {A.shape} and {other.shape}")
        if (pair := _one_pattern(A, other)) is not None:
            return pair[0]._with_data(pair[0].data + pair[1].data)
        idt = mx.int64 if mx.int64 in (A.index_dtype, other.index_dtype) else mx.int32
        rows = mx.concatenate([A._rows().astype(idt), other._rows().astype(idt)])
        cols = mx.concatenate([A.indices.astype(idt), other.indices.astype(idt)])
        dtype = _promote(A.dtype, other.dtype)
        data = mx.concatenate([A.data.astype(dtype), other.data.astype(dtype)])
        indptr, indices, slot = _ext.coo_tocsr(rows, cols, *A.shape, True)
        values = _ext.csr_sum_duplicates(data, slot, indices.size)
        return CSRArray(values, indices, indptr, A.shape, sorted_indices=True, canonical=True)
    if real_scalar(other, "add") is not None:
        if float(np.asarray(other)) == 0:
            return A
        raise NotImplementedError("[add] adding a nonzero scalar to a sparse array is not supported")
    return A.todense() + _dense(other, "add")


def subtract(A: CSRArray, other):
    """``A - other``, as :func:`add` of ``-other``."""
    A = _csr_operand(A, "subtract")
    other = _sparse(other, "subtract")
    if isinstance(other, CSRArray) or real_scalar(other, "subtract") is not None:
        return add(A, -other)
    return A.todense() - _dense(other, "subtract")


def sum(A: CSRArray, axis=None, *, stream=None):  # noqa: A001 - scipy's name
    """Sum of all entries, or per column (axis=0, shape (n,)) or per row (axis=1, shape (m,))."""
    A = _csr_operand(A, "sum")
    if axis is None:
        if A.nnz == 0:  # MLX's reduction of an empty array can hang (mlx 0.32.4)
            return mx.zeros((), dtype=A.dtype)
        return mx.sum(A.data, stream=stream)
    A._check_structure("csr_spmv")
    if axis in (1, -1) and A.shape[1] > _INT32_MAX:  # no (n,) vector of ones can exist
        return _ext.csr_sum_duplicates(A.data, A._rows(), A.shape[0], stream=stream)
    if axis in (1, -1):
        ones = mx.ones((A.shape[1],), dtype=A.dtype)
        return _ext.csr_spmv(A.indptr, A.indices, A.data, ones, A.shape[1], False, [],
                             A._lengths(), stream=stream)
    if axis in (0, -2):
        ones = mx.ones((A.shape[0],), dtype=A.dtype)
        return _ext.csr_spmv(A.indptr, A.indices, A.data, ones, A.shape[1], True, A._transposed(),
                             A._lengths(), stream=stream)
    raise ValueError(f"[sum] axis must be None, 0 or 1, got {axis}")


