"""Structure functions, as scipy.sparse's: bmat, vstack, hstack, block_diag, kron, kronsum,
tril, triu, and the diagonal of a CSRArray (diagonal, trace, setdiag).

Patterns are built on the host with numpy (they are structure); the values are MLX gathers
and products of the operands' values, so every result is differentiable in them.
"""

from __future__ import annotations

import operator

import mlx.core as mx
import numpy as np

from ._base import SparseArray
from ._csr import CSRArray
from ._dtypes import INT32_MAX as _INT32_MAX


def _as_format(A, format, op):
    """A in the format asked for: CSR as it is; another through ``A.asformat`` where the
    array has one."""
    if format is None or format == "csr":
        return A
    if hasattr(A, "asformat"):
        return A.asformat(format)
    raise ValueError(f"[{op}] format {format!r} is not available (only 'csr')")


def _as_csr(x, op, dtype=None):
    """An operand as a CSRArray: ours, a scipy.sparse array, or a dense array (whose
    nonzeros are kept; an mx.array keeps its gradient)."""
    from ._construct import csr_array

    if isinstance(x, CSRArray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if isinstance(x, SparseArray):
        return _as_csr(x.tocsr(), op, dtype)
    try:
        out = csr_array(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("[csr_array]", f"[{op}]").replace("[fromdense]", f"[{op}]")) from None
    return out


def _promote(dtypes):
    out = dtypes[0]
    for d in dtypes[1:]:
        out = (mx.zeros((1,), dtype=out) + mx.zeros((1,), dtype=d)).dtype
    return out


def _index_dtype(sizes):
    return np.int32 if max(sizes, default=0) <= _INT32_MAX else np.int64


def _host_rows(A):
    """(rows, cols) of every stored entry of A, on the host."""
    ip, ix = A._host_structure()
    return np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(ip)), ix.astype(np.int64)


def _build(values, rows, cols, shape, sorted_rows, canonical):
    """A CSRArray from entries already in row order (rows non-decreasing)."""
    idt = _index_dtype((*shape, rows.size))
    indptr = np.zeros(shape[0] + 1, dtype=idt)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return CSRArray(values, mx.array(cols.astype(idt)), mx.array(indptr), shape,
                    sorted_indices=True if sorted_rows else None,
                    canonical=True if canonical else None)


def _take(values, pos):
    if pos.size == 0:
        return mx.zeros((0,), values.dtype)
    return mx.take_along_axis(values, mx.array(pos), axis=0)


# ---- blocks

def bmat(blocks, format=None, dtype=None):
    """A sparse array from a 2-D grid of sparse blocks (None for a zero block), as
    ``scipy.sparse.bmat``.

    Parameters
    ----------
    blocks : 2-D sequence of CSRArray, scipy.sparse array, dense array or None
        Blocks of one block row must have one height, of one block column one width.
    format : str, optional
        ``'csr'`` (or None); another format through ``asformat`` where available.
    dtype : dtype, optional
        The values' dtype; by default the blocks' dtypes promoted.
    """
    try:
        rows = [list(r) for r in blocks]
    except TypeError:
        rows = None
    if not rows or any(len(r) != len(rows[0]) for r in rows) or not rows[0]:
        raise ValueError("[bmat] blocks must be a non-empty 2-D sequence (a list of lists of one length)")
    grid = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, r in enumerate(rows):
        for j, b in enumerate(r):
            grid[i, j] = None if b is None else _as_csr(b, "bmat")
    return _stack(grid, format, dtype, "bmat")


def _stack(grid, format, dtype, op):
    from ._dtypes import value_dtype

    heights = np.full(grid.shape[0], -1, dtype=np.int64)
    widths = np.full(grid.shape[1], -1, dtype=np.int64)
    for (i, j), b in np.ndenumerate(grid):
        if b is None:
            continue
        for sizes, k, d, what in ((heights, i, b.shape[0], "row"), (widths, j, b.shape[1], "column")):
            if sizes[k] not in (-1, d):
                raise ValueError(
                    f"[{op}] blocks[{i}, {j}] has {d} {what}s, but block "
                    f"{what} {k} has {sizes[k]} (blocks of one block {what} must agree)")
            sizes[k] = d
    heights, widths = np.maximum(heights, 0), np.maximum(widths, 0)
    present = [b for b in grid.flat if b is not None]
    if dtype is not None:
        dtype = value_dtype(dtype, op)
    elif present:
        dtype = _promote([b.dtype for b in present])
    else:
        dtype = mx.float32
    row_off = np.concatenate([[0], np.cumsum(heights)])
    col_off = np.concatenate([[0], np.cumsum(widths)])
    shape = (int(row_off[-1]), int(col_off[-1]))
    if grid.shape[1] == 1:
        return _as_format(_stack_rows(grid[:, 0], heights, shape, dtype, op), format, op)
    # an entry's place in its output row follows that row's entries of the blocks to its left:
    # placed by row pointers, with no sort
    lengths = np.zeros(shape[0], np.int64)
    for (i, j), b in np.ndenumerate(grid):
        if b is not None:
            b._check_structure(op)
            lengths[row_off[i]:row_off[i + 1]] += np.diff(b._host_structure()[0])
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    idt = _index_dtype((*shape, int(indptr[-1])))
    indices = np.empty(int(indptr[-1]), idt)
    source = np.empty(int(indptr[-1]), np.int64)  # each output entry's place in `parts`
    free = indptr[:-1].copy()  # the next free place of each output row
    parts, offset = [], 0
    for (i, j), b in np.ndenumerate(grid):  # row-major: each row's blocks left to right
        if b is None or b.nnz == 0:
            continue
        ip, ix = b._host_structure()
        lens = np.diff(ip)
        starts = free[row_off[i]:row_off[i + 1]]  # a view: advanced below
        dest = np.repeat(starts - ip[:-1], lens) + np.arange(b.nnz)
        indices[dest] = ix + col_off[j]
        source[dest] = np.arange(offset, offset + b.nnz)
        starts += lens
        parts.append(b["data"].astype(dtype))
        offset += b.nnz
    values = mx.concatenate(parts) if len(parts) > 1 else parts[0] if parts else mx.zeros((0,), dtype)
    if np.any(source[1:] < source[:-1]):
        values = _take(values, source)
    out = CSRArray(values, mx.array(indices), mx.array(indptr.astype(idt)), shape,
                   sorted_indices=True if all(b.has_sorted_indices for b in present) else None,
                   canonical=True if all(b.has_canonical_format for b in present) else None)
    return _as_format(out, format, op)


def _stack_rows(blocks, heights, shape, dtype, op):
    """One block column (vstack): the row pointers, shifted, and the indices, concatenated;
    no entry moves."""
    ips, ixs, parts, offset = [np.zeros(1, np.int64)], [], [], 0
    for b, h in zip(blocks, heights):
        if b is None:
            ips.append(np.full(h, offset, dtype=np.int64))
            continue
        b._check_structure(op)
        ip, ix = b._host_structure()
        ips.append(ip[1:].astype(np.int64) + offset)
        ixs.append(ix)
        parts.append(b["data"].astype(dtype))
        offset += b.nnz
    idt = _index_dtype((*shape, offset))
    present = [b for b in blocks if b is not None]
    indices = np.concatenate(ixs).astype(idt, copy=False) if ixs else np.zeros(0, idt)
    values = mx.concatenate(parts) if len(parts) > 1 else parts[0] if parts else mx.zeros((0,), dtype)
    return CSRArray(values, mx.array(indices), mx.array(np.concatenate(ips).astype(idt)), shape,
                    sorted_indices=True if all(b.has_sorted_indices for b in present) else None,
                    canonical=True if all(b.has_canonical_format for b in present) else None)


def vstack(blocks, format=None, dtype=None):
    """Stack sparse arrays vertically (row-wise), as ``scipy.sparse.vstack``."""
    blocks = _sequence(blocks, "vstack")
    return _stack(_column_grid([None if b is None else _as_csr(b, "vstack") for b in blocks]),
                  format, dtype, "vstack")


def hstack(blocks, format=None, dtype=None):
    """Stack sparse arrays horizontally (column-wise), as ``scipy.sparse.hstack``."""
    blocks = _sequence(blocks, "hstack")
    grid = np.empty((1, len(blocks)), dtype=object)
    for j, b in enumerate(blocks):
        grid[0, j] = None if b is None else _as_csr(b, "hstack")
    return _stack(grid, format, dtype, "hstack")


def block_diag(mats, format=None, dtype=None):
    """The block-diagonal array of ``mats``, as ``scipy.sparse.block_diag``."""
    mats = _sequence(mats, "block_diag")
    grid = np.empty((len(mats), len(mats)), dtype=object)
    for i, b in enumerate(mats):
        grid[i, i] = None if b is None else _as_csr(b, "block_diag")
    return _stack(grid, format, dtype, "block_diag")


def _sequence(blocks, op):
    if isinstance(blocks, (SparseArray, mx.array)) or not hasattr(blocks, "__len__") or len(blocks) == 0:
        raise ValueError(f"[{op}] expected a non-empty sequence of arrays")
    return list(blocks)


def _column_grid(blocks):
    grid = np.empty((len(blocks), 1), dtype=object)
    for i, b in enumerate(blocks):
        grid[i, 0] = b
    return grid


# ---- Kronecker products

def kron(A, B, format=None):
    """The Kronecker product of A and B, as ``scipy.sparse.kron``: entry (i, j) of A times
    B fills block (i, j). Differentiable in both operands' values."""
    A, B = _as_csr(A, "kron"), _as_csr(B, "kron")
    A._check_structure("kron")
    B._check_structure("kron")
    (p, q), (r, s) = A.shape, B.shape
    shape = (p * r, q * s)
    dtype = _promote([A.dtype, B.dtype])
    (ra, ca), (rb, cb) = _host_rows(A), _host_rows(B)
    ipa, ipb = A._host_structure()[0].astype(np.int64), B._host_structure()[0].astype(np.int64)
    la, lb = np.diff(ipa), np.diff(ipb)
    indptr = np.zeros(shape[0] + 1, np.int64)  # output row i * r + k holds la[i] * lb[k]
    np.cumsum(np.outer(la, lb).ravel(), out=indptr[1:])
    # pair (a, b), a in A's row i and b in B's row k, goes to row i * r + k after the pairs
    # of A's earlier entries in row i (lb[k] each): rows sorted when B's are and A's strictly
    oa, ob = np.arange(A.nnz) - ipa[ra], np.arange(B.nnz) - ipb[rb]
    dest = (indptr[(ra * r)[:, None] + rb[None, :]] + oa[:, None] * lb[rb][None, :]
            + ob[None, :]).ravel()
    order_a, order_b = np.empty(dest.size, np.int64), np.empty(dest.size, np.int64)
    order_a[dest] = np.repeat(np.arange(A.nnz), B.nnz)
    order_b[dest] = np.tile(np.arange(B.nnz), A.nnz)
    values = _take(A["data"].astype(dtype), order_a) * _take(B["data"].astype(dtype), order_b)
    idt = _index_dtype((*shape, dest.size))
    out = CSRArray(values, mx.array((ca[order_a] * s + cb[order_b]).astype(idt)),
                   mx.array(indptr.astype(idt)), shape,
                   sorted_indices=True if A.has_canonical_format and B.has_sorted_indices else None,
                   canonical=True if A.has_canonical_format and B.has_canonical_format else None)
    return _as_format(out, format, "kron")


def kronsum(A, B, format=None):
    """The Kronecker sum of square A (m, m) and B (n, n): ``kron(I_n, A) + kron(B, I_m)``,
    as ``scipy.sparse.kronsum``."""
    from ._graph import eye

    A, B = _as_csr(A, "kronsum"), _as_csr(B, "kronsum")
    for name, X in (("A", A), ("B", B)):
        if X.shape[0] != X.shape[1]:
            raise ValueError(f"[kronsum] {name} must be square, got shape {X.shape}")
    dtype = _promote([A.dtype, B.dtype])
    out = kron(eye(B.shape[0], dtype=dtype), A) + kron(B, eye(A.shape[0], dtype=dtype))
    return _as_format(out, format, "kronsum")


# ---- triangles and diagonals

def tril(A, k=0, format=None):
    """The entries of A on and below diagonal k, as ``scipy.sparse.tril``."""
    return _triangle(A, k, format, "tril", lower=True)


def triu(A, k=0, format=None):
    """The entries of A on and above diagonal k, as ``scipy.sparse.triu``."""
    return _triangle(A, k, format, "triu", lower=False)


def _triangle(A, k, format, op, lower):
    A = _as_csr(A, op)
    A._check_structure(op)
    k = _offset(k, op)
    rows, cols = _host_rows(A)
    keep = np.flatnonzero(cols - rows <= k if lower else cols - rows >= k)
    out = _build(A["data"] if keep.size == A.nnz else _take(A["data"], keep), rows[keep], cols[keep],
                 A.shape, A._sorted, A._canonical)
    return _as_format(out, format, op)


def _offset(k, op):
    try:
        return operator.index(k)
    except TypeError:
        raise TypeError(f"[{op}] the diagonal offset must be an integer, got {k!r}") from None


def _diagonal_entries(shape, k):
    m, n = shape
    length = max(0, min(m + min(k, 0), n - max(k, 0)))
    rows = np.arange(length, dtype=np.int64) + max(0, -k)
    return rows, rows + k


def diagonal(A, k=0):
    """Diagonal k of A as a 1-D mx.array (duplicates summed), as ``csr_array.diagonal``."""
    from ._index import _elements

    A = _as_csr(A, "diagonal")
    k = _offset(k, "diagonal")
    m, n = A.shape
    if not -m < k < n and (m, n) != (0, 0):
        return mx.zeros((0,), dtype=A.dtype)  # scipy: an empty diagonal, not an error
    rows, cols = _diagonal_entries(A.shape, k)
    return _elements(A, rows, cols)


def trace(A, offset=0):
    """The sum of diagonal ``offset``, as ``csr_array.trace``."""
    A = _as_csr(A, "trace")
    d = diagonal(A, offset)
    if d.size == 0:  # MLX's reduction of an empty array can hang (mlx 0.32.4)
        return mx.zeros((), dtype=A.dtype)
    return mx.sum(d)


def setdiag(A, values, k=0):
    """Set diagonal k of A to ``values`` in place, as ``csr_array.setdiag``: a scalar fills
    it, a sequence sets its first ``len(values)`` entries. Only stored entries can change
    (the pattern is immutable); setting a zero where nothing is stored is allowed."""
    from ._index import setitem

    if not isinstance(A, CSRArray):
        raise TypeError(f"[setdiag] expected a CSRArray (set in place), got {type(A).__name__}")
    k = _offset(k, "setdiag")
    m, n = A.shape
    if not -m < k < n:
        raise ValueError(f"[setdiag] k={k} exceeds the array's shape {A.shape}")
    rows, cols = _diagonal_entries(A.shape, k)
    v = values if isinstance(values, mx.array) else np.asarray(values)  # setitem keeps float64
    if v.ndim > 1:
        raise ValueError(f"[setdiag] values must be a scalar or 1-D, got shape {tuple(v.shape)}")
    if v.ndim == 1:
        count = min(v.size, rows.size)
        rows, cols, v = rows[:count], cols[:count], v[:count]
    try:
        setitem(A, (rows, cols), v)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("[setitem]", "[setdiag]")) from None
