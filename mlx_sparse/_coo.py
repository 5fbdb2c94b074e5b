"""COOArray: coordinate format, one (row, col, value) per stored entry, duplicates kept.

COO is the format of building and of conversion: entries may repeat and come in any order
until :meth:`COOArray.sum_duplicates`. Products and reductions go through its CSR form, whose
structure (the sorted, summed pattern and where each entry's value goes) is found once per
pattern; the values are summed into it lazily, so gradients reach every stored entry.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _dtypes, _ext
from ._base import SparseArray, _dtype_name, _to_numpy, _tracing, _values_from_host, check_shape
from ._csr import CSRArray


class COOArray(SparseArray):
    """A sparse matrix in COO format with MLX values. Make one with :func:`coo_array`.

    Attributes follow ``scipy.sparse.coo_array``: ``data`` (values, ``nnz``), ``row`` and
    ``col`` (the position of each value), ``coords`` (``(row, col)``), ``shape``, ``nnz``,
    ``dtype``, ``format``. Duplicates are kept (and summed by every op that reads entries)
    until :meth:`sum_duplicates`.
    """

    format = "coo"
    _op = "coo_array"
    _read_entries = ".row, .col, .data or .toarray()"
    _index_hint = "A.toarray()[...] or A.tocsr()"

    def __init__(self, data, row, col, shape, *, canonical=None, check=True):
        dict.__init__(self, data=data)
        self._row, self._col = row, col
        self._shape = check_shape(shape, self._op)
        self._canonical = canonical
        self._cache = {}
        if check:
            self.check_format(full_check=True)

    # ---- scipy-style attributes
    @property
    def row(self) -> mx.array:
        """The row of each stored value, shape ``(nnz,)``."""
        return self._row

    @property
    def col(self) -> mx.array:
        """The column of each stored value, shape ``(nnz,)``."""
        return self._col

    @property
    def coords(self) -> tuple:
        """``(row, col)``, as scipy's ``coords``."""
        return (self._row, self._col)

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros and duplicates included)."""
        return int(self._row.size)

    @property
    def _data_shape(self) -> tuple:
        return (self.nnz,)

    @property
    def index_dtype(self):
        """Dtype of ``row`` and ``col`` (int32 or int64)."""
        return self._row.dtype

    @property
    def has_canonical_format(self) -> bool:
        """Whether the entries are in row-major order without duplicates (found on first use)."""
        if self._canonical is None:
            r, c = (np.asarray(v).astype(np.int64) for v in (self._row, self._col))
            key = r * self._shape[1] + c
            self._canonical = bool(np.all(np.diff(key) > 0))
        return self._canonical

    def _repr_fields(self):
        return [("shape", self.shape), ("nnz", self.nnz), ("dtype", self.dtype),
                ("index_dtype", self.index_dtype)]

    def __reduce__(self):
        return (_rebuild, (_to_numpy(self["data"]), _dtype_name(self.dtype), np.asarray(self._row),
                           np.asarray(self._col), self._shape, self._canonical))

    def check_format(self, full_check: bool = False):
        """Check the COO rules: dtypes and lengths always, index ranges with ``full_check``."""
        data, row, col = self["data"], self._row, self._col
        if row.dtype not in _dtypes.INDEX_DTYPES or col.dtype != row.dtype:
            raise TypeError(f"[coo_array] row and col must both be int32 or both int64, got "
                            f"{row.dtype} and {col.dtype}")
        if data.dtype not in _dtypes.VALUE_DTYPES and data.dtype != mx.bool_:  # bool: comparisons
            raise TypeError(f"[coo_array] data must be floating point, got {data.dtype}")
        if data.ndim != 1 or row.ndim != 1 or col.ndim != 1 or not data.size == row.size == col.size:
            raise ValueError(f"[coo_array] data, row and col must be 1-D of one length, got shapes "
                             f"{tuple(data.shape)}, {tuple(row.shape)} and {tuple(col.shape)}")
        if not full_check or _tracing(row) or _tracing(col):
            return
        for name, idx, size in (("row", row, self._shape[0]), ("col", col, self._shape[1])):
            host = np.asarray(idx)
            if host.size and (host.min() < 0 or host.max() >= size):
                bad = int(host[(host < 0) | (host >= size)][0])
                raise ValueError(f"[coo_array] {name} index {bad} is out of range for shape {self._shape}")

    def _with_data(self, data, **flags) -> "COOArray":
        out = COOArray(data, self._row, self._col, self._shape, canonical=self._canonical, check=False)
        out._cache = self._cache  # the CSR structure is shared: same pattern
        return out

    # ---- conversions
    def _csr_structure(self):
        """(indptr, indices, slot) of the summed CSR pattern: entry e goes to slot[e]."""
        if "csr" not in self._cache:
            found = _ext.coo_tocsr(self._row, self._col, *self._shape, True)
            mx.eval(found)
            self._cache["csr"] = tuple(found)
        return self._cache["csr"]

    def tocsr(self, copy=False) -> CSRArray:
        """The canonical CSRArray of these entries, duplicates summed (differentiable)."""
        indptr, indices, slot = self._csr_structure()
        data = self["data"]
        if data.dtype == mx.bool_:  # a comparison's result: duplicates or-ed
            data = _ext.csr_sum_duplicates(data.astype(mx.float32), slot, indices.size) != 0
        else:
            data = _ext.csr_sum_duplicates(data, slot, indices.size)
        out = CSRArray(data, indices, indptr, self._shape, sorted_indices=True, canonical=True,
                       check=False)
        out._cache = self._cache.setdefault("csr_cache", {})  # one cache per pattern
        return out

    def tocoo(self, copy=False) -> "COOArray":
        """This array, already COO (a copy with ``copy=True``)."""
        return self.copy() if copy else self

    def tocsc(self, copy=False):
        """The CSCArray of these entries: the CSR of the transpose, duplicates summed."""
        from ._csc import CSCArray

        return CSCArray._of_transpose(self.transpose().tocsr())

    def todense(self, *, stream=None) -> mx.array:
        """The dense matrix as an mx.array (duplicates summed)."""
        return self.tocsr().todense(stream=stream)

    def toscipy(self):
        """A ``scipy.sparse.coo_array`` with the same entries, duplicates kept."""
        import scipy.sparse as sp

        data = _to_numpy(self["data"])
        if data.dtype == np.float16:  # scipy's kernels have no float16; float32 is exact
            data = data.astype(np.float32)
        return sp.coo_array((data, (np.array(self._row), np.array(self._col))), shape=self._shape)

    def transpose(self, axes=None) -> "COOArray":
        """The transpose: rows and columns swapped, the values shared."""
        if axes is not None and tuple(axes) != (1, 0):
            raise ValueError("[coo_transpose] axes must be None or (1, 0)")
        return COOArray(self["data"], self._col, self._row, self._shape[::-1], check=False)

    def astype(self, dtype, index_dtype=None) -> "COOArray":
        """Values (and optionally indices) cast to other dtypes (MLX or numpy dtypes, or names)."""
        out = self._with_data(self["data"].astype(_dtypes.value_dtype(dtype, self._op)))
        if index_dtype is None:
            return out
        idt = _dtypes.index_dtype(index_dtype, self._op)
        if idt == mx.int32 and max(self._shape + (self.nnz,)) > _dtypes.INT32_MAX:
            raise OverflowError(f"[coo_array] shape {self._shape} with {self.nnz} entries does not "
                                "fit int32 indices")
        row, col = self._row.astype(idt), self._col.astype(idt)
        mx.eval(row, col)
        return COOArray(out["data"], row, col, self._shape, canonical=self._canonical, check=False)

    # ---- canonical forms (in place, as scipy; each also returns self)
    def sum_duplicates(self) -> "COOArray":
        """Sort the entries in row-major order and sum duplicates, in place (differentiable)."""
        if self.has_canonical_format:
            return self
        csr = self.tocsr()
        rows = np.repeat(np.arange(self._shape[0]), np.diff(np.asarray(csr.indptr)))
        self._replace(csr["data"], mx.array(rows.astype(np.asarray(csr.indices).dtype)), csr.indices)
        return self

    def eliminate_zeros(self) -> "COOArray":
        """Remove stored zeros, in place."""
        keep = np.flatnonzero(_to_numpy(self["data"]) != 0)
        if keep.size < self.nnz:
            k = mx.array(keep.astype(np.int64))
            self._replace(mx.take(self["data"], k), mx.take(self._row, k), mx.take(self._col, k),
                          canonical=self._canonical)
        return self

    def _replace(self, data, row, col, canonical=True):
        mx.eval(row, col)
        self._row, self._col = row, col
        self["data"] = data
        self._canonical = canonical
        self._cache = {}


def _rebuild(data, dtype, row, col, shape, canonical):
    return COOArray(_values_from_host(data, dtype), mx.array(row), mx.array(col), shape,
                    canonical=canonical)


def coo_array(arg, shape=None, *, dtype=None, index_dtype=None, copy=False, validate=None) -> COOArray:
    """Make a COOArray, with scipy's constructor forms.

    Parameters
    ----------
    arg
        One of: ``(data, (row, col))`` (duplicates kept); ``(M, N)`` for an empty array; a
        ``scipy.sparse`` array or matrix; a sparse array of ours (any format); a dense
        ``mx.array``, numpy array or nested list (its nonzeros are kept).
    shape : tuple of int, optional
        ``(M, N)``; inferred from the largest indices when omitted, as scipy does.
    dtype : optional
        Value dtype (MLX or numpy dtype, or a name): float32, float16, bfloat16 or float64.
    index_dtype : optional
        int32 or int64; int32 whenever the shape and entries fit.
    copy : bool
        Copy the values even when they could be shared.
    validate : optional
        mlx-sparse's spelling, accepted (deprecated): a COOArray's indices are always checked.
    """
    if validate is not None:
        from ._compat import validated

        return validated(coo_array(arg, shape, dtype=dtype, index_dtype=index_dtype, copy=copy),
                         validate, "coo_array")
    from ._construct import (_choose_index_dtype, _cast_index, _floating, _index_array,
                             _is_scipy_sparse, fromdense)

    dtype = None if dtype is None else _dtypes.value_dtype(dtype, "coo_array")
    index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype, "coo_array")
    if isinstance(arg, SparseArray):
        out = arg.tocoo().astype(dtype or arg.dtype, index_dtype)
        return out.copy() if copy and out["data"] is arg["data"] else out
    if _is_scipy_sparse(arg):
        s = arg.tocoo()
        if shape is not None and check_shape(shape, "coo_array") != s.shape:
            raise ValueError(f"[coo_array] shape {tuple(shape)} does not match the scipy array's {s.shape}")
        arg, shape = (s.data, (s.row, s.col)), s.shape
    if isinstance(arg, tuple) and len(arg) == 2 and all(isinstance(v, (int, np.integer)) for v in arg):
        shape = check_shape(arg, "coo_array")
        idt = _choose_index_dtype(index_dtype, shape, op="coo_array")
        empty = mx.zeros((0,), dtype=idt)
        return COOArray(mx.zeros((0,), dtype=dtype or mx.float32), empty, empty, shape, canonical=True)
    if isinstance(arg, tuple) and len(arg) == 2 and len(arg[1]) == 2:
        row = _index_array(arg[1][0], "row", "coo_array")
        col = _index_array(arg[1][1], "col", "coo_array")
        if shape is None:
            r, c = np.asarray(row), np.asarray(col)
            shape = (int(r.max()) + 1 if r.size else 0, int(c.max()) + 1 if c.size else 0)
        shape = check_shape(shape, "coo_array")
        values = _floating(arg[0], dtype, copy, "coo_array")
        if values.ndim != 1 or values.size != row.size or row.size != col.size:
            raise ValueError(f"[coo_array] data, row and col must be 1-D of one length, got shapes "
                             f"{tuple(values.shape)}, {tuple(row.shape)} and {tuple(col.shape)}")
        idt = _choose_index_dtype(index_dtype, (*shape, row.size), row, col, op="coo_array")
        return COOArray(values, _cast_index(row, idt), _cast_index(col, idt), shape)
    if isinstance(arg, tuple):
        raise ValueError("[coo_array] expected (data, (row, col)) or (M, N); got a tuple of "
                         f"length {len(arg)}")
    return fromdense(arg, dtype=dtype, index_dtype=index_dtype).tocoo()
