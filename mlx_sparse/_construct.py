"""Making CSRArrays: csr_array (scipy's constructor forms) and fromdense."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _dtypes, _ext
from ._base import SparseArray, _to_numpy, _tracing, check_shape
from ._csr import CSRArray
from ._pattern import derived
from ._dtypes import INT32_MAX as _INT32_MAX, NUMPY_VALUE as _NP_VALUE, VALUE_DTYPES as _VALUE_DTYPES


def csr_array(arg, shape=None, *, dtype=None, index_dtype=None, sorted_indices=False,
              canonical=False, copy=False, validate=None) -> CSRArray:
    """Make a CSRArray, with scipy's constructor forms.

    Parameters
    ----------
    arg
        One of: ``(data, indices, indptr)``; ``(data, (row, col))`` COO triplets, duplicates
        summed; ``(M, N)`` for an empty array; a ``scipy.sparse`` array or matrix; another
        sparse array of ours (any format); a dense ``mx.array``, numpy array or nested list (its nonzeros are kept).
        Arrays may be mx arrays, numpy arrays or lists.
    shape : tuple of int, optional
        ``(M, N)``. Inferred when omitted, as scipy does.
    dtype : mx.Dtype, optional
        Value dtype: float32, float16, bfloat16 or float64. Defaults to the input's floating
        dtype (float64 stays float64); integer values become float32 (float64 where float32
        could not hold them exactly).
    index_dtype : mx.Dtype, optional
        int32 or int64. Defaults to int32 whenever the shape and entries fit in it.
    sorted_indices, canonical : bool
        For ``(data, indices, indptr)``: promise that every row's indices are sorted
        (``sorted_indices``), and also free of duplicates (``canonical``). Trusted, not
        checked (``check_format(full_check=True)`` checks them); when False they are found
        out lazily, when an op needs them.
    copy : bool
        Copy the values even when they could be shared.
    validate : {"metadata", "full", True, False}, optional
        mlx-sparse's spelling (deprecated): ``"full"`` or True also runs
        ``check_format(full_check=True)``; the O(1) checks always run.
    """
    if validate is not None:
        from ._compat import validated

        return validated(csr_array(arg, shape, dtype=dtype, index_dtype=index_dtype,
                                   sorted_indices=sorted_indices, canonical=canonical, copy=copy),
                         validate, "csr_array")
    dtype = None if dtype is None else _dtypes.value_dtype(dtype)
    index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype)
    if isinstance(arg, SparseArray) and not isinstance(arg, CSRArray):
        arg = arg.tocsr()  # another format (CSC, COO, BSR): its CSR form
    if isinstance(arg, CSRArray):
        out = arg.astype(dtype or arg.dtype, index_dtype)
        return out.copy() if copy and out is arg else out
    if _is_scipy_sparse(arg):
        return _from_scipy(arg, shape, dtype, index_dtype)
    if isinstance(arg, tuple):
        if len(arg) == 2 and all(isinstance(v, (int, np.integer)) for v in arg):
            return _empty((int(arg[0]), int(arg[1])), dtype, index_dtype)
        if len(arg) == 2 and isinstance(arg[1], (tuple, list)) and len(arg[1]) == 2:
            return _from_coo(arg[0], arg[1][0], arg[1][1], shape, dtype, index_dtype)
        if len(arg) == 3:
            return _from_csr(*arg, shape, dtype, index_dtype, sorted_indices, canonical, copy)
        raise ValueError(
            "[csr_array] expected (data, indices, indptr), (data, (row, col)) or (M, N); "
            f"got a tuple of length {len(arg)}"
        )
    return fromdense(arg, dtype=dtype, index_dtype=index_dtype)


def fromdense(dense, *, threshold=None, dtype=None, index_dtype=None) -> CSRArray:
    """The CSRArray of the nonzeros of a 2-D dense array.

    With ``threshold``, only entries with ``abs(value) > threshold`` are kept (magnitude
    pruning). The result is canonical; its values are gathered from ``dense`` lazily, so
    gradients flow back to ``dense``.
    """
    dtype = None if dtype is None else _dtypes.value_dtype(dtype, "fromdense")
    index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype, "fromdense")
    w = dense if isinstance(dense, mx.array) else _dense_from_host(dense, dtype)
    if w.ndim != 2:
        raise ValueError(f"[fromdense] expected a 2-D array, got shape {tuple(w.shape)}")
    vdt = _value_dtype_of(w.dtype, dtype)
    host = _to_numpy(w)
    if dtype is None and w.dtype not in _VALUE_DTYPES:
        vdt = _exact_float(host)
    mask = host != 0 if threshold is None else np.abs(host) > threshold
    rows, cols = np.nonzero(mask)
    m, n = w.shape
    idt = _choose_index_dtype(index_dtype, (m, n, rows.size))
    npi = np.int32 if idt == mx.int32 else np.int64
    indptr = np.zeros(m + 1, dtype=npi)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    flat = mx.array((rows.astype(np.int64) * n + cols).astype(npi))
    data = mx.take(mx.reshape(w, (-1,)), flat).astype(vdt)
    return CSRArray(data, mx.array(cols.astype(npi)), mx.array(indptr), (m, n),
                    sorted_indices=True, canonical=True)


# ---- constructor forms

def _from_csr(data, indices, indptr, shape, dtype, index_dtype, sorted_indices, canonical, copy):
    indices = _index_array(indices, "indices")
    indptr = _index_array(indptr, "indptr")
    if shape is None:
        ix = np.asarray(indices)
        shape = (indptr.size - 1, int(ix.max()) + 1 if ix.size else 0)
    shape = check_shape(shape)
    idt = _choose_index_dtype(index_dtype, (*shape, indices.size), indices, indptr)
    values = _values(data, dtype, copy)
    return CSRArray(values, _cast_index(indices, idt), _cast_index(indptr, idt), shape,
                    sorted_indices=True if (sorted_indices or canonical) else None,
                    canonical=True if canonical else None)


def _from_coo(data, row, col, shape, dtype, index_dtype):
    row = _index_array(row, "row")
    col = _index_array(col, "col")
    if shape is None:
        r, c = np.asarray(row), np.asarray(col)
        shape = (int(r.max()) + 1 if r.size else 0, int(c.max()) + 1 if c.size else 0)
    shape = check_shape(shape)
    values = _values(data, dtype, False)
    if values.ndim != 1 or values.size != row.size or row.size != col.size:
        raise ValueError(
            f"[csr_array] data, row and col must be 1-D of one length, got {tuple(values.shape)}, "
            f"{tuple(row.shape)} and {tuple(col.shape)}"
        )
    idt = _choose_index_dtype(index_dtype, (*shape, row.size), row, col)
    indptr, indices, slot = _ext.coo_tocsr(_cast_index(row, idt), _cast_index(col, idt), *shape, True)
    data = _ext.csr_sum_duplicates(values, slot, indices.size)
    return CSRArray(data, indices, indptr, shape, sorted_indices=True, canonical=True)


def _from_scipy(s, shape, dtype, index_dtype):
    s = s.tocsr()
    if shape is not None and tuple(shape) != s.shape:
        raise ValueError(f"[csr_array] shape {tuple(shape)} does not match the scipy array's {s.shape}")
    idt = _choose_index_dtype(index_dtype, (*s.shape, s.nnz), s.indices, s.indptr)
    npi = np.int32 if idt == mx.int32 else np.int64
    return CSRArray(
        _values(s.data, dtype, True), mx.array(s.indices.astype(npi)), mx.array(s.indptr.astype(npi)),
        s.shape, sorted_indices=bool(s.has_sorted_indices), canonical=bool(s.has_canonical_format),
    )


def _empty(shape, dtype, index_dtype):
    shape = check_shape(shape)
    idt = _choose_index_dtype(index_dtype, shape)
    vdt = dtype or mx.float32
    return CSRArray(mx.zeros((0,), dtype=vdt), mx.zeros((0,), dtype=idt),
                    mx.zeros((shape[0] + 1,), dtype=idt), shape, sorted_indices=True, canonical=True)


# ---- helpers

def _is_scipy_sparse(x) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # scipy is a dependency, but keep the import lazy
        return False
    return sp.issparse(x)


def _value_dtype_of(src, requested, op="csr_array"):
    if requested is not None:
        return requested
    if src in _VALUE_DTYPES:
        return src
    if src == mx.complex64:
        raise TypeError(f"[{op}] complex values are not supported")
    return mx.float32


def _check_numeric(host: np.ndarray, what: str, op="csr_array") -> np.ndarray:
    """Host values that MLX can hold: numbers, not strings, objects or complex."""
    if host.dtype.kind == "c":
        raise TypeError(f"[{op}] complex values are not supported")
    if host.dtype.kind not in "biuf":
        raise TypeError(f"[{op}] {what} must be numeric, got dtype {host.dtype}")
    return host


def _values(data, dtype, copy) -> mx.array:
    """Values as a 1-D floating mx.array; integers become float32 when exact, else float64."""
    out = _floating(data, dtype, copy)
    if out.ndim != 1:
        raise ValueError(f"[csr_array] data must be 1-D, got shape {tuple(out.shape)}")
    return out


def _floating(data, dtype, copy, op="csr_array") -> mx.array:
    """Values as a floating mx.array of any shape (see _values)."""
    if isinstance(data, mx.array):
        vdt = _value_dtype_of(data.dtype, dtype, op)
        if dtype is None and data.dtype not in _VALUE_DTYPES and not _tracing(data):
            vdt = _exact_float(np.asarray(data))
        out = data.astype(vdt) if data.dtype != vdt else (mx.array(data) if copy else data)
    else:
        host = _check_numeric(np.asarray(data), "data", op)
        if dtype is not None:
            vdt = dtype
        elif host.dtype in _NP_VALUE:
            vdt = _NP_VALUE[host.dtype]
        else:
            vdt = _exact_float(host)
        if vdt == mx.bfloat16:
            out = mx.array(host.astype(np.float32)).astype(mx.bfloat16)
        else:
            out = mx.array(host, dtype=vdt)
    return out


def _exact_float(host: np.ndarray):
    """float32 unless some integer value would not survive it."""
    if host.size and host.dtype.kind in "iu" and np.abs(host.astype(np.float64)).max() > 2**24:
        return mx.float64
    return mx.float32


def _dense_from_host(x, dtype, op="csr_array"):
    host = _check_numeric(np.asarray(x), "a dense array", op)
    vdt = dtype or _NP_VALUE.get(host.dtype) or _exact_float(host)
    if vdt == mx.bfloat16:
        return mx.array(host.astype(np.float32)).astype(mx.bfloat16)
    return mx.array(host, dtype=vdt)


def _index_array(x, name, op="csr_array") -> mx.array:
    if isinstance(x, mx.array):
        if not mx.issubdtype(x.dtype, mx.integer):
            raise TypeError(f"[{op}] {name} must hold integers, got {x.dtype}")
        a = x if x.dtype in (mx.int32, mx.int64) else x.astype(mx.int64)
    else:
        host = np.asarray(x)
        if host.size == 0:
            host = host.astype(np.int32)
        if host.dtype.kind not in "iu":
            raise TypeError(f"[{op}] {name} must hold integers, got {host.dtype}")
        if host.dtype.kind == "u" and host.size and host.max() > np.iinfo(np.int64).max:
            raise ValueError(f"[{op}] {name} holds {host.max()}, beyond int64 indices")
        wide = host if host.dtype in (np.int32, np.int64) else host.astype(np.int64)
        a = derived(host, "mx.array", lambda: mx.array(wide),
                    lambda out: out.shape == host.shape and np.array_equal(np.asarray(out), host))
    if a.ndim != 1:
        raise ValueError(f"[{op}] {name} must be 1-D, got shape {tuple(a.shape)}")
    return a


def _choose_index_dtype(requested, sizes, *arrays, op="csr_array"):
    """int32 when every size fits (and the arrays' values do), else int64."""
    wants_int32 = requested is not None and requested == mx.int32
    if wants_int32 and max(sizes, default=0) > _INT32_MAX:
        raise OverflowError(f"[{op}] sizes {sizes} do not fit int32 indices")
    if requested is None and max(sizes, default=0) > _INT32_MAX:
        return mx.int64
    for a in arrays:
        host = np.asarray(a)
        # a value beyond int32 must reach check_format as itself, never truncated
        if host.dtype.itemsize > 4 and host.size and (host.max() > _INT32_MAX or host.min() < -_INT32_MAX - 1):
            if wants_int32:
                bad = host[(host > _INT32_MAX) | (host < -_INT32_MAX - 1)][0]
                raise ValueError(
                    f"[{op}] index {bad} does not fit index_dtype=int32 (and is out of range "
                    f"for sizes {sizes})"
                )
            return mx.int64
    return requested or mx.int32


def _cast_index(a: mx.array, idt) -> mx.array:
    out = a if a.dtype == idt else derived(a, idt, lambda: a.astype(idt))
    mx.eval(out)
    return out
