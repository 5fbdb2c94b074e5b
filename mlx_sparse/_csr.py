"""CSRArray: a compressed-sparse-row matrix whose values are an MLX array.

The structure (``indptr``, ``indices``) is evaluated when the array is made: shapes of sparse
results depend on it. The values (``data``) stay lazy and differentiable. A CSRArray is a
``dict`` holding only its values under ``"data"``, so MLX's tree utilities see it:
``mx.eval(A)`` evaluates it and ``mx.grad(f)(A)`` returns ``{"data": dA}``, the gradient with
respect to the stored values.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _dtypes, _ext
from ._base import SparseArray, _dtype_name, _to_numpy, _tracing, _values_from_host, check_shape
from ._dtypes import INDEX_DTYPES as _INDEX_DTYPES, VALUE_DTYPES as _VALUE_DTYPES
from ._pattern import pattern_cache

_UNKNOWN_LENGTHS = _ext.RowLengths()


class CSRArray(SparseArray):
    """A sparse matrix in CSR format with MLX values. Make one with :func:`csr_array`.

    Attributes follow ``scipy.sparse.csr_array``: ``data`` (values, ``nnz``), ``indices``
    (column of each value), ``indptr`` (row ``i`` holds entries ``indptr[i]:indptr[i+1]``),
    ``shape``, ``nnz``, ``dtype``, ``format``.
    """

    format = "csr"
    _op = "csr_array"
    _read_entries = ".tocoo() or .toarray()"
    _index_hint = "A.toarray()[...] or A.tocoo()"

    def _getitem(self, key):
        """``A[key]`` as scipy's csr_array (see mlx_sparse._index)."""
        from ._index import getitem

        return getitem(self, key)

    def _setitem(self, key, value):
        """``A[key] = value`` inside the pattern (see mlx_sparse._index)."""
        from ._index import setitem

        setitem(self, key, value)

    def __init__(self, data, indices=None, indptr=None, shape=None, *, sorted_indices=None,
                 canonical=None, check=True):
        if isinstance(data, tuple):  # mlx-sparse's CSRArray((data, indices, indptr), shape=...)
            from ._compat import csr_from_tuple

            data, indices, indptr, shape = csr_from_tuple(data, indices, indptr, shape)
        dict.__init__(self, data=data)
        self._indices = indices
        self._indptr = indptr
        self._shape = check_shape(shape)
        self._sorted = sorted_indices
        self._canonical = canonical
        self._cache = pattern_cache(indices, indptr, self._shape)
        self._transpose_of = None  # A's product arguments when this is A.T (transpose())
        if check:
            self.check_format(full_check=False)

    # ---- scipy-style attributes
    @property
    def indices(self) -> mx.array:
        """The column of each stored value, shape ``(nnz,)`` (int32 or int64)."""
        return self._indices

    @property
    def indptr(self) -> mx.array:
        """Row pointers, ``(m + 1,)``: row ``i`` holds entries ``indptr[i]:indptr[i + 1]``."""
        return self._indptr

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros and duplicates included)."""
        return int(self._indices.size)

    @property
    def _data_shape(self) -> tuple:
        return (self.nnz,)

    @property
    def index_dtype(self):
        """Dtype of ``indices`` and ``indptr`` (int32 or int64)."""
        return self._indices.dtype

    @property
    def has_sorted_indices(self) -> bool:
        """Whether every row's columns are sorted (found out on first use unless promised)."""
        if self._sorted is None:
            self._sorted = self._structure_fact("sorted", strict=False)
        return self._sorted

    @property
    def has_canonical_format(self) -> bool:
        """Whether every row's columns are sorted and unique (found out on first use)."""
        if self._canonical is None:
            self._canonical = self._structure_fact("canonical", strict=True)
            if self._canonical:
                self._sorted = True
        return self._canonical

    def _structure_fact(self, key: str, strict: bool) -> bool:
        """Sorted (strictly: canonical) rows, found once per pattern: every array of the
        pattern (A.with_data(v), A.T, ...) shares the answer through its structure cache."""
        if key not in self._cache:
            self._cache[key] = _rows_sorted(*self._host_structure(), strict=strict)
        return self._cache[key]

    def _repr_fields(self):
        return [("shape", self.shape), ("nnz", self.nnz), ("dtype", self.dtype),
                ("index_dtype", self.index_dtype), ("sorted_indices", self.has_sorted_indices),
                ("has_canonical_format", self.has_canonical_format)]

    def __reduce__(self):
        # values travel with their dtype's name: mx.array(float64 ndarray) would be float32,
        # and bfloat16 (which numpy lacks) goes through float32, exactly
        return (_rebuild, (_to_numpy(self["data"]), _dtype_name(self.dtype),
                           np.asarray(self._indices), np.asarray(self._indptr), self._shape,
                           self._sorted, self._canonical))

    # ---- checks
    def check_format(self, full_check: bool = False):
        """Check the CSR rules: O(1) checks always, O(nnz) ones with ``full_check=True``."""
        data, indices, indptr = self["data"], self._indices, self._indptr
        m, n = self._shape  # non-negative ints: check_shape, when the array was made
        if indices.dtype not in _INDEX_DTYPES or indptr.dtype != indices.dtype:
            raise TypeError(
                f"[csr_array] indices and indptr must both be int32 or both int64, got "
                f"{indices.dtype} and {indptr.dtype}"
            )
        if data.dtype not in _VALUE_DTYPES and data.dtype != mx.bool_:  # bool: comparisons' results
            raise TypeError(f"[csr_array] data must be floating point, got {data.dtype}")
        if indices.ndim != 1 or indptr.ndim != 1 or data.ndim != 1:
            raise ValueError(
                f"[csr_array] data, indices and indptr must be 1-D, got shapes {tuple(data.shape)}, "
                f"{tuple(indices.shape)}, {tuple(indptr.shape)}"
            )
        if indptr.size != m + 1:
            raise ValueError(f"[csr_array] index pointer size {indptr.size} should be {m + 1}")
        if data.size != indices.size:
            raise ValueError(
                f"[csr_array] indices and data should have the same size, got {indices.size} and {data.size}"
            )
        if _tracing(indptr):
            return
        first, last = (int(v) for v in np.asarray(indptr)[[0, -1]])
        if first != 0:
            raise ValueError(f"[csr_array] index pointer should start with 0, got {first}")
        if last != indices.size:
            raise ValueError(
                f"[csr_array] last value of index pointer should be the number of entries {indices.size}, got {last}"
            )
        if full_check:
            ip, ix = self._host_structure()
            if np.any(np.diff(ip) < 0):
                row = int(np.argmax(np.diff(ip) < 0))
                raise ValueError(f"[csr_array] index pointer (indptr) should not decrease (row {row})")
            if ix.size and (ix.min() < 0 or ix.max() >= n):
                bad = int(ix[(ix < 0) | (ix >= n)][0])
                raise ValueError(f"[csr_array] column index {bad} is out of range for {n} columns")
            if self._sorted and not _rows_sorted(ip, ix, strict=False):
                raise ValueError("[csr_array] marked sorted_indices=True but indices are not sorted")
            if self._canonical and not _rows_sorted(ip, ix, strict=True):
                raise ValueError(
                    "[csr_array] marked canonical=True but indices are unsorted or duplicated"
                )

    def _check_structure(self, op: str):
        """Before an op reads the structure: the full check, once per pattern, so a bad
        pattern raises here, naming the op, on every device, before the graph is built (an
        exception on MLX's stream thread could leave MLX 0.32.4 waiting forever). Inside
        mx.compile, with traced indices, nothing can be checked: the kernels then follow
        the rule of csrc/ops.h (bad entries skipped), never raising."""
        if "valid" not in self._cache:
            self._require_valid(op)

    def _require_valid(self, op: str):
        """Full structure check, once per pattern; also records the row lengths."""
        if self._cache.get("valid") or _tracing(self._indptr) or _tracing(self._indices):
            return
        try:
            self.check_format(full_check=True)
        except ValueError as e:
            raise ValueError(str(e).replace("[csr_array]", f"[{op}]")) from None
        self._cache["valid"] = True
        self._cache["lengths"] = _row_lengths(*self._host_structure(), self._shape[1])

    def _lengths(self):
        """The longest row of A and of A^T, from which the GPU picks its product kernels;
        known once the pattern has been checked (unknown, as under mx.compile with traced
        indices: the load-balanced kernels)."""
        return self._cache.get("lengths", _UNKNOWN_LENGTHS)

    def _host_structure(self):
        return np.asarray(self._indptr), np.asarray(self._indices)

    # ---- structure caches (computed when first needed, as in pytorch_sparse)
    def _rows(self) -> mx.array:
        """The row of each stored entry."""
        if "rows" not in self._cache:
            self._check_structure("csr_rows")
            self._cache["rows"] = _ext.csr_rows(self._indptr, self._indices)
        return self._cache["rows"]

    def _transpose_structure(self):
        if "T" not in self._cache:
            self._check_structure("csr_transpose")
            t = _ext.csr_transpose(self._indptr, self._indices, self._shape[1])
            if _tracing(self._indptr) or _tracing(self._indices):
                return t  # traced inside mx.compile: lazy, not cached
            mx.eval(t)
            self._cache["T"] = t
        return self._cache["T"]

    def _transposed(self) -> list:
        """A^T's structure for the products, from this pattern's second product on.

        The transposed product (gradients of ``A @ B``, ``X @ A``) gathers over A^T; caching
        it spares a training loop one transpose per backward pass, and a one-off product
        pays nothing. Forward SpMV does not carry it: three more inputs cost more per call
        than the narrow backward saves.
        """
        t = self._cache.get("T")
        if t is not None:
            return t
        uses = self._cache["uses"] = self._cache.get("uses", 0) + 1
        if uses < 2:
            return []
        try:
            return self._transpose_structure()
        except Exception:  # indices traced inside mx.compile: no cache, the op transposes
            return []

    def _with_data(self, data, **flags) -> "CSRArray":
        """The same pattern with other values (which may be a traced array)."""
        out = CSRArray(
            data, self._indices, self._indptr, self._shape,
            sorted_indices=flags.get("sorted_indices", self._sorted),
            canonical=flags.get("canonical", self._canonical), check=False,
        )
        out._cache = self._cache  # structure caches are shared: same pattern
        return out

    # ---- conversions
    def todense(self, *, stream=None) -> mx.array:
        """The dense matrix as an mx.array (duplicates summed; of bool values, or-ed)."""
        if self.dtype == mx.bool_:  # the kernels take numbers: count the True entries
            return self._with_data(self["data"].astype(mx.float32)).todense(stream=stream) != 0
        self._check_structure("csr_todense")
        return _ext.csr_todense(self._indptr, self._indices, self["data"], self._shape[1], stream=stream)

    def toscipy(self):
        """A ``scipy.sparse.csr_array`` with the same entries (values copied to the host)."""
        import scipy.sparse as sp

        data = _to_numpy(self["data"])
        if data.dtype == np.float16:  # scipy's kernels have no float16; float32 is exact
            data = data.astype(np.float32)
        return sp.csr_array((data, np.array(self._indices), np.array(self._indptr)),
                            shape=self._shape)

    def tocsr(self, copy=False) -> "CSRArray":
        """This array, already CSR (a copy with ``copy=True``)."""
        return self.copy() if copy else self

    def tobsr(self, blocksize=None, copy=False):
        """The BSRArray of these entries in ``blocksize=(R, C)`` blocks (see :func:`bsr_array`):
        every block holding a stored entry is stored, its other entries zero; the blocks are
        a fixed gather of the values, so gradients flow back to them."""
        from ._bsr import csr_to_bsr

        return csr_to_bsr(self, blocksize)

    def tocoo(self, copy=False):
        """The :class:`COOArray` of the stored entries, in CSR order (values shared)."""
        from ._coo import COOArray

        data = mx.array(self["data"]) if copy else self["data"]
        return COOArray(data, self._rows(), self._indices, self._shape, canonical=self._canonical,
                        check=False)

    def tocsc(self, copy=False):
        """The :class:`CSCArray` of these entries: its stored transpose is ``A.T`` (values
        gathered lazily by a fixed permutation, so gradients flow back)."""
        from ._csc import CSCArray

        return CSCArray._of_transpose(self.transpose())

    def astype(self, dtype, index_dtype=None) -> "CSRArray":
        """Values (and optionally indices) cast to other dtypes (MLX or numpy dtypes, or
        names such as ``"float32"``)."""
        dtype = _dtypes.value_dtype(dtype)
        out = self._with_data(self["data"].astype(dtype))
        index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype)
        if index_dtype is not None and index_dtype != self.index_dtype:
            if index_dtype == mx.int32:
                self._require_valid("csr_array")  # an index beyond int32 must not wrap
                if max(self._shape + (self.nnz,)) > _dtypes.INT32_MAX:
                    raise OverflowError(
                        f"[csr_array] shape {self._shape} with {self.nnz} entries does not fit int32 indices"
                    )
            out = CSRArray(out["data"], self._indices.astype(index_dtype),
                           self._indptr.astype(index_dtype), self._shape,
                           sorted_indices=self._sorted, canonical=self._canonical, check=False)
            mx.eval(out._indices, out._indptr)
        return out

    # ---- canonical forms (in place, as scipy; each also returns self)
    def sum_duplicates(self, *, stream=None) -> "CSRArray":
        """Sort indices and sum duplicate entries, in place (differentiable in the values).
        On a GPU stream (or the GPU as default device) the sort runs there."""
        if self.has_canonical_format:
            return self
        return self._canonicalise(True, stream)

    def sort_indices(self, *, stream=None) -> "CSRArray":
        """Sort the column indices of every row, in place (duplicates kept)."""
        if self.has_sorted_indices:
            return self
        return self._canonicalise(False, stream)

    def _canonicalise(self, sum_duplicates: bool, stream) -> "CSRArray":
        ip, ix, slot = self._sorted_structure(sum_duplicates, stream)
        data = _ext.csr_sum_duplicates(self["data"], slot, ix.size, stream=stream)
        self._replace(data, ix, ip, sorted_indices=True, canonical=True if sum_duplicates else None)
        return self

    def eliminate_zeros(self) -> "CSRArray":
        """Remove stored zeros, in place."""
        self._require_valid("eliminate_zeros")
        values = _to_numpy(self["data"])
        keep = np.flatnonzero(values != 0)
        if keep.size == values.size:
            return self
        ip, ix = self._host_structure()
        rows = np.repeat(np.arange(self._shape[0]), np.diff(ip))
        counts = np.bincount(rows[keep], minlength=self._shape[0])
        new_ip = np.concatenate([[0], np.cumsum(counts)]).astype(ip.dtype)
        data = mx.take(self["data"], mx.array(keep.astype(ip.dtype)))
        self._replace(data, mx.array(ix[keep]), mx.array(new_ip),
                      sorted_indices=self._sorted, canonical=self._canonical)
        return self

    def _replace(self, data, indices, indptr, *, sorted_indices, canonical):
        mx.eval(indices, indptr)
        self._indices, self._indptr = indices, indptr
        self["data"] = data
        self._sorted, self._canonical = sorted_indices, canonical
        self._cache = pattern_cache(indices, indptr, self._shape)

    def _canonical_copy(self, stream=None) -> "CSRArray":
        """A canonical CSRArray with these entries (self when already canonical). The sorted,
        summed structure is found once per pattern; every copy shares it and one structure
        cache, so a loop over new values only sums them (lazily, differentiably)."""
        if self.has_canonical_format:
            return self
        ip, ix, slot = self._sorted_structure(True, stream)
        data = _ext.csr_sum_duplicates(self["data"], slot, ix.size, stream=stream)
        out = CSRArray(data, ix, ip, self._shape, sorted_indices=True, canonical=True, check=False)
        out._cache = self._cache.setdefault("canonical_copy", {})
        return out

    def _sorted_structure(self, sum_duplicates: bool, stream):
        """(indptr, indices, slot) of this pattern with each row's columns sorted (and its
        duplicates summed): entry p's value goes to slot[p]. Found once per pattern."""
        key = ("sorted_structure", sum_duplicates)
        if key not in self._cache:
            found = _ext.coo_tocsr(self._rows(), self._indices, *self._shape, sum_duplicates,
                                   stream=stream)
            mx.eval(found)
            self._cache[key] = tuple(found)
        return self._cache[key]

    # ---- structure and arithmetic
    def transpose(self, axes=None) -> "CSRArray":
        """The transpose, with sorted indices; values gathered lazily (differentiable)."""
        if axes is not None and tuple(axes) != (1, 0):
            raise ValueError("[csr_transpose] axes must be None or (1, 0)")
        ip, ix, perm = self._transpose_structure()
        data = mx.take(self["data"], perm)
        canonical = True if self._canonical else None
        out = CSRArray(data, ix, ip, self._shape[::-1], sorted_indices=True, canonical=canonical,
                       check=False)
        if "T" in self._cache:  # else traced: nothing is known of the pattern
            out._cache = self._transpose_cache()
            # A.T @ B runs as A^T @ B on A as it is now (the product's transposed mode, over
            # the cached structure), never gathering A.T's values: see _ops.matmul. A's
            # arrays are kept, so A changed in place later does not change A.T's products.
            out._transpose_of = (self._indptr, self._indices, self["data"], self._shape[1],
                                 (ip, ix, perm), self._lengths(), data)
        return out

    def _transpose_cache(self) -> dict:
        """The structure caches every transpose of this pattern shares: A^T is valid when A
        is, with A's row lengths swapped, so ``A.T @ x`` in a loop is not checked per call.

        The caches close into a cycle, so ``B = B.T`` in a loop makes no new ones: (A^T)^T
        is A itself when A's rows are sorted; otherwise it is A with sorted rows, S, and
        S^T is A^T again (the transpose is stable)."""
        t = self._cache.get("T_view")
        if t is None:
            t = self._cache["T_view"] = _swapped(self._cache)
            if self.has_sorted_indices:
                t["T_view"] = self._cache
            else:
                t["T_view"] = _swapped(t)
                t["T_view"]["T_view"] = t
        return t

    def __add__(self, other):
        from ._ops import add

        return add(self, other)

    def __radd__(self, other):
        return self.__add__(other)

    def __sub__(self, other):
        from ._ops import subtract

        return subtract(self, other)

    def __rsub__(self, other):
        return (-self).__add__(other)

    def multiply(self, other):
        """Elementwise product with a scalar, a dense array (broadcast) or a CSRArray."""
        from ._ops import multiply

        return multiply(self, other)

    def diagonal(self, k=0) -> mx.array:
        """Diagonal k as a 1-D mx.array (see :func:`mlx_sparse.diagonal`)."""
        from ._structure import diagonal

        return diagonal(self, k)

    def trace(self, offset=0) -> mx.array:
        """Sum of diagonal ``offset`` (see :func:`mlx_sparse.trace`)."""
        from ._structure import trace

        return trace(self, offset)

    def setdiag(self, values, k=0):
        """Set diagonal k's stored values in place (see :func:`mlx_sparse.setdiag`)."""
        from ._structure import setdiag

        setdiag(self, values, k)


def _swapped(cache: dict) -> dict:
    """A new structure cache for the transpose of a pattern with this cache: what is known
    of the transpose without a pass over it (valid, with row and column lengths swapped)."""
    if not cache.get("valid"):
        return {}
    lengths = cache["lengths"]
    return {"valid": True, "lengths": _ext.RowLengths(lengths.max_col, lengths.max_row)}


def _rebuild(data, dtype, indices, indptr, shape, sorted_indices, canonical):
    return CSRArray(_values_from_host(data, dtype), mx.array(indices), mx.array(indptr), shape,
                    sorted_indices=sorted_indices, canonical=canonical)


def _rows_sorted(indptr: np.ndarray, indices: np.ndarray, strict: bool) -> bool:
    """Are the columns of every row increasing (strictly: no duplicates)?"""
    if indices.size < 2:
        return True
    d = np.diff(indices.astype(np.int64))
    row_start = np.zeros(indices.size, dtype=bool)
    starts = indptr[1:-1]
    row_start[starts[starts < indices.size]] = True
    ok = (d > 0) if strict else (d >= 0)
    return bool(np.all(ok | row_start[1:]))


def _row_lengths(indptr: np.ndarray, indices: np.ndarray, n_cols: int):
    """RowLengths of a valid structure: its longest row and longest column, in O(nnz)
    memory (a bincount over n_cols could be far larger than the matrix)."""
    if indices.size == 0:
        return _ext.RowLengths(0, 0)
    if n_cols <= 4 * indices.size:
        longest_col = np.bincount(indices, minlength=n_cols).max()
    else:
        longest_col = np.unique(indices, return_counts=True)[1].max()
    return _ext.RowLengths(int(np.diff(indptr).max()), int(longest_col))
