"""BSRArray: a block compressed-sparse-row matrix whose blocks are an MLX array, and
bsr_array (scipy's constructor forms).

The matrix is cut into (R, C) blocks; ``indptr`` and ``indices`` are a CSR pattern of the
blocks (block row ``I`` holds blocks ``indptr[I]:indptr[I + 1]``, at block columns
``indices[...]``) and ``data`` holds the stored blocks, (nnzb, R, C). As for CSRArray, the
structure is evaluated (and here checked in full) when the array is made; the values stay
lazy and differentiable, the only leaf of the array's MLX tree.

Every conversion is a fixed gather of ``data`` computed once per pattern on the host
(numpy index arithmetic), so gradients flow through MLX's own ops on every backend.
Products with a dense operand run the block kernel ``bsr_spmm`` on the CPU; other products,
and all on the GPU, go through the CSR form (:func:`mlx_sparse.matmul`).
"""

from __future__ import annotations

import operator

import mlx.core as mx
import numpy as np

from . import _dtypes
from ._base import SparseArray, _dtype_name, _to_numpy, _tracing, _values_from_host, check_shape
from ._csr import CSRArray, _rows_sorted
from ._dtypes import INDEX_DTYPES as _INDEX_DTYPES, INT32_MAX as _INT32_MAX, VALUE_DTYPES as _VALUE_DTYPES

_OP = "bsr_array"


class BSRArray(SparseArray):
    """A sparse matrix in BSR (block sparse row) format with MLX values. Make one with
    :func:`bsr_array`.

    Attributes follow ``scipy.sparse.bsr_array``: ``data`` (the stored blocks, shape
    ``(nnzb, R, C)``), ``indices`` (block column of each block), ``indptr`` (block row ``I``
    holds blocks ``indptr[I]:indptr[I + 1]``), ``blocksize`` ``(R, C)``, ``shape``, ``nnz``
    (stored entries, ``nnzb * R * C``, as scipy counts them), ``dtype``, ``format``.

    A batch of matrices with one block pattern has shape ``(B, M, N)`` and ``data`` of shape
    ``(B, nnzb, R, C)``: ``A[b]`` is matrix b, products map over the batch (``A @ X`` with X
    ``(N, k)`` or ``(B, N, k)``), ``todense()`` is ``(B, M, N)``, ``A.T`` transposes every
    matrix. Formats without a batch (CSR, scipy) take one matrix at a time.
    """

    format = "bsr"
    _op = _OP

    def __init__(self, data, indices, indptr, shape, *, check=True):
        dict.__init__(self, data=data)
        self._indices = indices
        self._indptr = indptr
        self._batch, self._shape = _batch_shape(shape)
        self._cache = {}
        if check:
            self.check_format(full_check=True)

    # ---- scipy-style attributes
    @property
    def indices(self) -> mx.array:
        """The block column of each stored block, shape ``(nnzb,)`` (int32 or int64)."""
        return self._indices

    @property
    def indptr(self) -> mx.array:
        """Block row pointers, ``(m / R + 1,)``: block row ``I`` holds blocks ``indptr[I]:indptr[I + 1]``."""
        return self._indptr

    @property
    def shape(self) -> tuple:
        """``(M, N)``, or ``(B, M, N)`` for a batch of matrices."""
        return (*self._batch, *self._shape)

    @property
    def ndim(self) -> int:
        return 2 + len(self._batch)

    @property
    def blocksize(self) -> tuple[int, int]:
        """``(R, C)``, the shape of every block."""
        return tuple(self["data"].shape[-2:])

    @property
    def nnzb(self) -> int:
        """Number of stored blocks."""
        return int(self._indices.size)

    @property
    def nnz(self) -> int:
        """Number of stored entries, ``nnzb * R * C`` (zeros inside stored blocks included)."""
        R, C = self.blocksize
        return int(np.prod(self._batch, dtype=np.int64)) * self.nnzb * R * C

    @property
    def _data_shape(self) -> tuple:
        return (*self._batch, self.nnzb, *self.blocksize)

    @property
    def index_dtype(self):
        """Dtype of ``indices`` and ``indptr`` (int32 or int64)."""
        return self._indices.dtype

    @property
    def has_sorted_indices(self) -> bool:
        """Whether the block columns of every block row are sorted."""
        if "sorted" not in self._cache:
            self._cache["sorted"] = _rows_sorted(*self._host_structure(), strict=False)
        return self._cache["sorted"]

    @property
    def has_canonical_format(self) -> bool:
        """Whether the block columns of every block row are sorted and unique."""
        if "canonical" not in self._cache:
            self._cache["canonical"] = _rows_sorted(*self._host_structure(), strict=True)
        return self._cache["canonical"]

    def _repr_fields(self):
        return [("shape", self.shape), ("blocksize", self.blocksize), ("nnzb", self.nnzb),
                ("nnz", self.nnz), ("dtype", self.dtype), ("index_dtype", self.index_dtype)]

    def __reduce__(self):
        return (_rebuild, (_to_numpy(self["data"]), _dtype_name(self.dtype),
                           np.asarray(self._indices), np.asarray(self._indptr), self.shape))

    # ---- checks
    def check_format(self, full_check: bool = False):
        """Check the BSR rules: O(1) checks always, O(nnzb) ones with ``full_check=True``
        (construction runs both)."""
        data, indices, indptr = self["data"], self._indices, self._indptr
        m, n = self._shape
        if indices.dtype not in _INDEX_DTYPES or indptr.dtype != indices.dtype:
            raise TypeError(
                f"[bsr_array] indices and indptr must both be int32 or both int64, got "
                f"{indices.dtype} and {indptr.dtype}"
            )
        if data.dtype not in _VALUE_DTYPES:
            raise TypeError(f"[bsr_array] data must be floating point, got {data.dtype}")
        if indices.ndim != 1 or indptr.ndim != 1:
            raise ValueError(
                f"[bsr_array] indices and indptr must be 1-D, got shapes {tuple(indices.shape)} "
                f"and {tuple(indptr.shape)}"
            )
        _check_block_data(data, self._batch)
        R, C = self.blocksize
        _check_divides((R, C), (m, n))
        if indptr.size != m // R + 1:
            raise ValueError(f"[bsr_array] index pointer size {indptr.size} should be {m // R + 1}")
        if data.shape[-3] != indices.size:
            raise ValueError(
                f"[bsr_array] indices and data should have the same number of blocks, got "
                f"{indices.size} and {data.shape[-3]}"
            )
        if _tracing(indptr) or _tracing(indices):
            raise ValueError(
                "[bsr_array] the block structure (indices, indptr) must be known when the array "
                "is made, not traced inside mx.compile: capture the array and pass its values "
                "(A.with_data(values))"
            )
        ip, ix = self._host_structure()
        if ip[0] != 0:
            raise ValueError(f"[bsr_array] index pointer should start with 0, got {int(ip[0])}")
        if ip[-1] != ix.size:
            raise ValueError(
                f"[bsr_array] last value of index pointer should be the number of blocks {ix.size}, "
                f"got {int(ip[-1])}"
            )
        if full_check:
            if np.any(np.diff(ip) < 0):
                row = int(np.argmax(np.diff(ip) < 0))
                raise ValueError(f"[bsr_array] index pointer (indptr) should not decrease (block row {row})")
            if ix.size and (ix.min() < 0 or ix.max() >= n // C):
                bad = int(ix[(ix < 0) | (ix >= n // C)][0])
                raise ValueError(f"[bsr_array] block column index {bad} is out of range for {n // C} block columns")

    def _host_structure(self):
        if "host" not in self._cache:
            self._cache["host"] = (np.asarray(self._indptr), np.asarray(self._indices))
        return self._cache["host"]

    def _with_data(self, data, **flags) -> "BSRArray":
        """The same pattern with other values (which may be a traced array)."""
        out = BSRArray(data, self._indices, self._indptr, self.shape, check=False)
        out._cache = self._cache  # structure caches are shared: same pattern
        return out

    def _matrix(self, data) -> "BSRArray":
        """One matrix of this pattern (no batch) with the given blocks (nnzb, R, C)."""
        out = BSRArray(data, self._indices, self._indptr, self._shape, check=False)
        out._cache = self._cache
        return out

    def __getitem__(self, key):
        if not self._batch or isinstance(key, str):
            return super().__getitem__(key)
        try:
            b = operator.index(key)
        except TypeError:
            raise NotImplementedError(
                f"[bsr_array] a batched BSRArray is indexed by one batch entry, A[b]; got {key!r}"
            ) from None
        if not -self._batch[0] <= b < self._batch[0]:
            raise IndexError(f"[bsr_array] batch index {b} is out of range for a batch of {self._batch[0]}")
        return self._matrix(dict.__getitem__(self, "data")[b])

    def _unbatched(self, what: str):
        if self._batch:
            raise ValueError(
                f"[bsr_array] a batch of matrices (shape {self.shape}) has no {what}; take one "
                f"matrix, A[b]"
            )

    # ---- conversions
    def tocsr(self, copy=False) -> CSRArray:
        """The CSRArray of the stored entries, as scipy's ``bsr.tocsr()``: every entry of every
        stored block, explicit zeros and duplicate blocks kept, blocks in stored order. Its
        values are a fixed gather of ``data`` (differentiable); its structure is found once
        per pattern and shared, with its caches, by every CSR form of this pattern."""
        self._unbatched("CSR form (a CSRArray is one matrix)")
        perm, indices, indptr, sorted_, canonical, cache = self._csr_structure()
        flat = mx.reshape(self["data"], (-1,))
        values = flat if perm is None else mx.take(flat, perm)
        out = CSRArray(values, indices, indptr, self._shape, sorted_indices=sorted_, canonical=canonical,
                       check=False)
        out._cache = cache
        return out

    def _csr_structure(self):
        """(perm, indices, indptr, sorted, canonical, cache) of the CSR form: its value e is
        ``data.reshape(-1)[perm[e]]`` (perm None when it is the identity)."""
        if "csr" in self._cache:
            return self._cache["csr"]
        ip, ix = self._host_structure()
        R, C = self.blocksize
        nnzb = ix.size
        nnz = nnzb * R * C
        counts = np.diff(ip).astype(np.int64)
        brow = np.repeat(np.arange(counts.size, dtype=np.int64), counts)  # block row of block p
        start = ip.astype(np.int64)[brow]  # first block of its block row
        k = counts[brow]  # blocks in its block row
        p = np.arange(nnzb, dtype=np.int64)
        # row r of block row I holds k*C entries; entry (p, r, c) lands at this position
        pos = ((start * R * C + (p - start) * C)[:, None, None]
               + (k[:, None, None] * C) * np.arange(R)[None, :, None] + np.arange(C)[None, None, :])
        pos = pos.reshape(-1)
        npi = np.int64 if self.index_dtype == mx.int64 or max(nnz, *self._shape) > _INT32_MAX else np.int32
        perm = np.empty(nnz, dtype=npi)
        perm[pos] = np.arange(nnz, dtype=npi)
        cols = np.empty(nnz, dtype=npi)
        cols[pos] = np.broadcast_to((ix.astype(np.int64) * C)[:, None, None] + np.arange(C)[None, None, :],
                                    (nnzb, R, C)).reshape(-1)
        indptr = np.zeros(self._shape[0] + 1, dtype=npi)
        np.cumsum(np.repeat(counts * C, R), out=indptr[1:])
        identity = bool(np.array_equal(perm, np.arange(nnz, dtype=npi)))
        canonical = self.has_canonical_format
        sorted_ = canonical or (C == 1 and self.has_sorted_indices)
        found = (None if identity else mx.array(perm), mx.array(cols), mx.array(indptr), sorted_,
                 canonical, {})
        mx.eval(found[1], found[2])
        self._cache["csr"] = found
        return found

    def todense(self, *, stream=None) -> mx.array:
        """The dense matrix as an mx.array (duplicate blocks summed); (B, M, N) for a batch."""
        if self._batch:
            return mx.vmap(lambda d: self._matrix(d).todense(stream=stream))(self["data"])
        return self.tocsr().todense(stream=stream)

    def toscipy(self):
        """A ``scipy.sparse.bsr_array`` with the same blocks (values copied to the host)."""
        import scipy.sparse as sp

        self._unbatched("scipy form (scipy has no batched arrays)")
        data = _to_numpy(self["data"])
        if data.dtype == np.float16:  # scipy's kernels have no float16; float32 is exact
            data = data.astype(np.float32)
        return sp.bsr_array((data, np.array(self._indices), np.array(self._indptr)),
                            shape=self._shape, blocksize=self.blocksize)

    def tobsr(self, blocksize=None, copy=False) -> "BSRArray":
        """This array (a copy with ``copy=True``), or its entries in blocks of another size."""
        if blocksize is None or _blocksize(blocksize, self._shape) == self.blocksize:
            return self.copy() if copy else self
        self._unbatched("other blocksize (re-blocking goes through one matrix's CSR form)")
        return csr_to_bsr(self.tocsr(), blocksize)

    def astype(self, dtype, index_dtype=None) -> "BSRArray":
        """Values (and optionally indices) cast to other dtypes (MLX or numpy dtypes, or
        names such as ``"float32"``)."""
        dtype = _dtypes.value_dtype(dtype, _OP)
        out = self._with_data(self["data"].astype(dtype))
        index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype, _OP)
        if index_dtype is not None and index_dtype != self.index_dtype:
            if index_dtype == mx.int32 and max(self._shape + (self.nnzb,)) > _INT32_MAX:
                raise OverflowError(
                    f"[bsr_array] shape {self._shape} with {self.nnzb} blocks does not fit int32 indices"
                )
            out = BSRArray(out["data"], self._indices.astype(index_dtype),
                           self._indptr.astype(index_dtype), self.shape, check=False)
            mx.eval(out._indices, out._indptr)
        return out

    def transpose(self, axes=None) -> "BSRArray":
        """The transpose: a BSRArray of blocksize (C, R) with sorted block indices; its blocks
        are gathered and transposed lazily (differentiable). A batch transposes each matrix
        (axes ``(0, 2, 1)``); the batch stays first."""
        swap = (0, 2, 1) if self._batch else (1, 0)
        if axes is not None and tuple(axes) != swap:
            raise ValueError(f"[bsr_transpose] axes must be None or {swap}")
        perm, indices, indptr, cache = self._transpose_structure()
        data = mx.swapaxes(mx.take(self["data"], perm, axis=-3), -1, -2)
        out = BSRArray(data, indices, indptr, (*self._batch, *self._shape[::-1]), check=False)
        out._cache = cache
        return out

    def _transpose_structure(self):
        """(perm, indices, indptr, cache) of the transpose: its block q is this array's
        block perm[q], transposed. Found once per pattern."""
        if "T" not in self._cache:
            ip, ix = self._host_structure()
            t_indptr, t_indices, perm = transpose_structure(ip, ix, self._shape[1] // self.blocksize[1])
            found = (mx.array(perm), mx.array(t_indices), mx.array(t_indptr),
                     {"sorted": True, "canonical": self.has_canonical_format})
            mx.eval(found[:3])
            self._cache["T"] = found
        return self._cache["T"]


def transpose_structure(indptr: np.ndarray, indices: np.ndarray, n_cols: int):
    """csr_transpose of a (block) CSR pattern on the host: (indptr_t, indices_t, perm) in
    indptr's dtype, entry q of the transpose being entry perm[q]."""
    npi = indptr.dtype
    rows = np.repeat(np.arange(indptr.size - 1, dtype=npi), np.diff(indptr))
    perm = np.argsort(indices, kind="stable")  # entries of a column keep their row order
    t_indptr = np.zeros(n_cols + 1, dtype=npi)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=t_indptr[1:])
    return t_indptr, rows[perm], perm.astype(npi)


def _rebuild(data, dtype, indices, indptr, shape):
    return BSRArray(_values_from_host(data, dtype), mx.array(indices), mx.array(indptr), shape)


def _check_block_data(data: mx.array, batch: tuple = ()):
    if data.ndim != 3 + len(batch) or tuple(data.shape[:len(batch)]) != batch:
        want = "(B, nnzb, R, C) with B = %d" % batch[0] if batch else "(nnzb, R, C)"
        raise ValueError(f"[bsr_array] data must have shape {want}, got {tuple(data.shape)}")
    if data.shape[-2] < 1 or data.shape[-1] < 1:
        raise ValueError(f"[bsr_array] blocksize must be positive, got {tuple(data.shape[-2:])}")


def _batch_shape(shape) -> tuple[tuple, tuple[int, int]]:
    """((B,) or (), (M, N)) of a shape (M, N) or (B, M, N)."""
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    if len(dims) == 3:
        B = check_shape(dims[:2], _OP)[0]
        return (B,), check_shape(dims[1:], _OP)
    return (), check_shape(shape, _OP)


def _check_divides(blocksize, shape):
    R, C = blocksize
    if shape[0] % R or shape[1] % C:
        raise ValueError(f"[bsr_array] shape {tuple(shape)} is not divisible by blocksize {(R, C)}")


def _blocksize(blocksize, shape) -> tuple[int, int]:
    """(R, C) as two positive ints dividing shape."""
    try:
        R, C = (operator.index(v) for v in blocksize)
    except (TypeError, ValueError):
        raise TypeError(f"[bsr_array] blocksize must be a pair of integers, got {blocksize!r}") from None
    if R < 1 or C < 1:
        raise ValueError(f"[bsr_array] blocksize must be positive, got {(R, C)}")
    _check_divides((R, C), shape)
    return (R, C)


def csr_to_bsr(A: CSRArray, blocksize) -> BSRArray:
    """The BSRArray of A's entries (duplicates summed) in (R, C) blocks: every block that
    holds a stored entry is stored, its other entries zero; block columns sorted. The blocks
    are a fixed gather of A's values (differentiable), found once per pattern."""
    if _tracing(A.indptr) or _tracing(A.indices):
        raise ValueError("[bsr_array] the structure of a CSRArray traced inside mx.compile cannot be blocked")
    if blocksize is None:
        blocksize = _scipy_blocksize(A.astype(mx.float32).toscipy())
    R, C = _blocksize(blocksize, A.shape)
    A._require_valid(_OP)
    A = A._canonical_copy()
    key = ("bsr", R, C)
    if key not in A._cache:
        ip, ix = A._host_structure()
        m, n = A.shape
        nb = n // C
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(ip))
        cols = ix.astype(np.int64)
        blocks, block_of = np.unique((rows // R) * nb + cols // C, return_inverse=True)
        nnzb = blocks.size
        npi = np.int32 if A.index_dtype == mx.int32 and nnzb * R * C < _INT32_MAX else np.int64
        gather = np.full(nnzb * R * C, A.nnz, dtype=npi)  # A.nnz: the zero appended below
        gather[block_of.reshape(-1) * (R * C) + (rows % R) * C + cols % C] = np.arange(A.nnz)
        full = A.nnz == gather.size
        identity = full and bool(np.array_equal(gather, np.arange(gather.size)))
        indptr = np.zeros(m // R + 1, dtype=np.asarray(ip).dtype)
        np.cumsum(np.bincount(blocks // nb, minlength=m // R), out=indptr[1:])
        found = (None if identity else mx.array(gather), full,
                 mx.array((blocks % nb).astype(indptr.dtype)), mx.array(indptr),
                 {"sorted": True, "canonical": True})
        mx.eval(found[2], found[3])
        A._cache[key] = found
    gather, full, indices, indptr, cache = A._cache[key]
    values = A.data
    if gather is not None:
        if not full:
            values = mx.concatenate([values, mx.zeros((1,), dtype=values.dtype)])
        values = mx.take(values, gather)
    out = BSRArray(mx.reshape(values, (indices.size, R, C)), indices, indptr, A.shape, check=False)
    out._cache = cache
    return out


def bsr_array(arg, shape=None, *, blocksize=None, dtype=None, index_dtype=None,
              copy=False) -> BSRArray:
    """Make a BSRArray, with the forms of ``scipy.sparse.bsr_array``.

    Parameters
    ----------
    arg
        One of: ``(data, indices, indptr)`` with ``data`` of shape ``(nnzb, R, C)``; ``(M, N)``
        for an empty array; a ``scipy.sparse`` array or matrix (any format; a BSR one keeps its
        blocks, another is blocked by scipy's ``tobsr(blocksize)``, which picks a blocksize
        when none is given); a :class:`CSRArray` (every block holding a
        stored entry is stored, its other entries zero); another BSRArray; a dense
        ``mx.array``, numpy array or nested list (every block holding a nonzero is stored;
        its values are gathered lazily, so gradients flow back to it). Without ``blocksize``,
        a CSRArray or dense input is blocked as scipy would block it (its estimate).
        A batch of matrices with one block pattern: ``(data, indices, indptr)`` with
        ``data`` of shape ``(B, nnzb, R, C)``, a dense ``(B, M, N)`` array (the pattern is
        every block nonzero in any of them), or ``(B, M, N)`` for an empty batch.
    shape : tuple of int, optional
        ``(M, N)`` or ``(B, M, N)``, divisible by the blocksize. Inferred when omitted, as
        scipy does.
    blocksize : tuple of int, optional
        ``(R, C)``. For ``(data, indices, indptr)``, it must match ``data.shape[1:]``.
    dtype, index_dtype
        As for :func:`csr_array` (MLX or numpy dtypes, or names).
    copy : bool
        Copy the values even when they could be shared.

    The structure is checked in full when the array is made. Products go through the CSR
    form for now (see :func:`matmul`).
    """
    from ._construct import _is_scipy_sparse

    dtype = None if dtype is None else _dtypes.value_dtype(dtype, _OP)
    index_dtype = None if index_dtype is None else _dtypes.index_dtype(index_dtype, _OP)
    if isinstance(arg, BSRArray):
        out = arg.tobsr(blocksize)
        return out.astype(dtype or out.dtype, index_dtype)  # new values: a copy
    if isinstance(arg, SparseArray) and not isinstance(arg, CSRArray):
        arg = arg.tocsr()  # CSC, COO: their CSR form
    if isinstance(arg, CSRArray):
        out = csr_to_bsr(arg, blocksize)
        if dtype is not None or index_dtype is not None:
            return out.astype(dtype or out.dtype, index_dtype)
        return out.copy() if copy else out
    if _is_scipy_sparse(arg):
        return _from_scipy(arg, shape, blocksize, dtype, index_dtype)
    if isinstance(arg, tuple):
        if len(arg) in (2, 3) and all(isinstance(v, (int, np.integer)) for v in arg):
            return _empty(tuple(int(v) for v in arg), blocksize, dtype, index_dtype)
        if len(arg) == 3:
            return _from_parts(*arg, shape, blocksize, dtype, index_dtype, copy)
        raise ValueError(
            f"[bsr_array] expected (data, indices, indptr) or (M, N); got a tuple of length {len(arg)}"
        )
    return _from_dense(arg, blocksize, dtype, index_dtype)


def _from_parts(data, indices, indptr, shape, blocksize, dtype, index_dtype, copy):
    from ._construct import _cast_index, _choose_index_dtype, _floating, _index_array

    indices, indptr = _index_array(indices, "indices", _OP), _index_array(indptr, "indptr", _OP)
    values = _floating(data, dtype, copy, _OP)
    batch = tuple(values.shape[:1]) if values.ndim == 4 else ()
    _check_block_data(values, batch)
    R, C = values.shape[-2:]
    if blocksize is not None and _pair(blocksize) != (R, C):
        raise ValueError(f"[bsr_array] blocksize {tuple(blocksize)} does not match data's blocks {(R, C)}")
    if shape is None:
        ix = np.asarray(indices)
        shape = (*batch, (indptr.size - 1) * R, (int(ix.max()) + 1) * C if ix.size else 0)
    if _batch_shape(shape)[0] != batch:
        raise ValueError(f"[bsr_array] shape {tuple(shape)} does not match data of shape {tuple(values.shape)}: "
                         "a batch (B, M, N) has data (B, nnzb, R, C)")
    idt = _choose_index_dtype(index_dtype, (*shape, indices.size), indices, indptr, op=_OP)
    return BSRArray(values, _cast_index(indices, idt), _cast_index(indptr, idt), shape)


def _from_scipy(s, shape, blocksize, dtype, index_dtype):
    from ._construct import _choose_index_dtype, _floating

    if blocksize is not None:
        blocksize = _blocksize(blocksize, s.shape)
    if s.format != "bsr" or (blocksize is not None and blocksize != s.blocksize):
        s = s.tobsr(blocksize=blocksize)  # scipy picks a blocksize when none is given
    if shape is not None and tuple(shape) != s.shape:
        raise ValueError(f"[bsr_array] shape {tuple(shape)} does not match the scipy array's {s.shape}")
    idt = _choose_index_dtype(index_dtype, (*s.shape, s.indices.size), s.indices, s.indptr, op=_OP)
    npi = np.int32 if idt == mx.int32 else np.int64
    return BSRArray(_floating(s.data, dtype, True, _OP), mx.array(s.indices.astype(npi)),
                    mx.array(s.indptr.astype(npi)), s.shape)


def _empty(shape, blocksize, dtype, index_dtype):
    from ._construct import _choose_index_dtype

    batch, (m, n) = _batch_shape(shape)
    R, C = _blocksize((1, 1) if blocksize is None else blocksize, (m, n))
    idt = _choose_index_dtype(index_dtype, (m, n), op=_OP)
    return BSRArray(mx.zeros((*batch, 0, R, C), dtype=dtype or mx.float32), mx.zeros((0,), dtype=idt),
                    mx.zeros((m // R + 1,), dtype=idt), (*batch, m, n))


def _from_dense(x, blocksize, dtype, index_dtype):
    from ._construct import _choose_index_dtype, _dense_from_host, _exact_float, _value_dtype_of

    w = x if isinstance(x, mx.array) else _dense_from_host(x, dtype, _OP)
    if w.ndim not in (2, 3):
        raise ValueError(f"[bsr_array] expected a 2-D dense array or a batch (B, M, N), got shape {tuple(w.shape)}")
    host = _to_numpy(w)
    batch, (m, n) = tuple(w.shape[:-2]), tuple(w.shape[-2:])
    # a batch shares one pattern: every block nonzero in some matrix of it
    union = (host != 0).any(axis=0) if batch else host
    R, C = _blocksize(_scipy_blocksize(union) if blocksize is None else blocksize, (m, n))
    vdt = _value_dtype_of(w.dtype, dtype, _OP)
    if dtype is None and w.dtype not in _VALUE_DTYPES:
        vdt = _exact_float(host)
    mb, nb = m // R, n // C
    kept = (union.reshape(mb, R, nb, C) != 0).any(axis=(1, 3))
    brows, bcols = np.nonzero(kept)
    idt = _choose_index_dtype(index_dtype, (m, n, brows.size), op=_OP)
    npi = np.int32 if idt == mx.int32 else np.int64
    indptr = np.zeros(mb + 1, dtype=npi)
    np.cumsum(np.bincount(brows, minlength=mb), out=indptr[1:])
    blocks = mx.reshape(mx.swapaxes(mx.reshape(w, (*batch, mb, R, nb, C)), -3, -2), (*batch, mb * nb, R, C))
    data = mx.take(blocks, mx.array((brows.astype(np.int64) * nb + bcols).astype(npi)), axis=-3)
    return BSRArray(data.astype(vdt), mx.array(bcols.astype(npi)), mx.array(indptr), w.shape)


def _scipy_blocksize(x) -> tuple[int, int]:
    """The blocksize scipy's ``bsr_array(x)`` picks when none is given (its own estimate of
    how blocked the nonzeros are), so that both libraries block the same input alike."""
    import scipy.sparse as sp

    s = x if sp.issparse(x) else sp.csr_array(np.asarray(x, dtype=np.float32) != 0)
    return tuple(int(v) for v in s.tobsr().blocksize)


def _pair(blocksize):
    try:
        return tuple(operator.index(v) for v in blocksize)
    except TypeError:
        raise TypeError(f"[bsr_array] blocksize must be a pair of integers, got {blocksize!r}") from None
