"""Indexing a CSRArray as scipy.sparse.csr_array: ``A[i, j]``, ``A[a:b]``, ``A[rows]``,
``A[:, cols]``, ``A[mask]``, and assignment of values inside the pattern.

Which entries a key selects is structure, found on the host with vectorised numpy on the index
arrays (indptr differences, cumsum, repeat); the values are then one MLX gather of ``A.data``
(``mx.take_along_axis`` or a slice), so results stay lazy and differentiable in the values.

Results follow scipy's shapes: two integers give a 0-d mx.array, a key with one remaining axis
a 1-D mx.array (dense: there is no 1-D sparse format here, where scipy gives a 1-D coo_array),
two remaining axes a CSRArray.
"""

from __future__ import annotations

import operator

import mlx.core as mx
import numpy as np

from . import _ext
from ._dtypes import INT32_MAX as _INT32_MAX

_OP = "getitem"


# ---- reading

def getitem(A, key):
    """``A[key]`` (see the module docstring)."""
    comps, new_axes = _parse(key, A.shape, _OP)
    if new_axes:
        return _with_new_axes(A, comps, new_axes)
    if isinstance(comps, _Pairs):
        return _elements(A, comps.rows, comps.cols)
    r, c = comps
    if isinstance(r, int) and isinstance(c, int):
        return _elements(A, np.array(r), np.array(c))
    if isinstance(r, np.ndarray) and isinstance(c, np.ndarray) or (
            isinstance(r, np.ndarray) and r.ndim > 1 or isinstance(c, np.ndarray) and c.ndim > 1):
        return _fancy(A, r, c)
    if isinstance(r, int):  # one row: scipy's 1-D result, dense here
        return _outer(A, np.array([r]), c).todense()[0]
    if isinstance(c, int):
        return _outer(A, r, np.array([c])).todense()[:, 0]
    return _outer(A, r, c)


class _Pairs:
    """A key addressing single entries (a 2-D boolean mask): rows[k], cols[k]."""

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols


def _parse(key, shape, op):
    """The key as (row, col) components, each an int, a slice or an int ndarray (bounds
    checked, negatives wrapped), or a _Pairs; and where np.newaxis (None) stood."""
    comps = list(key) if isinstance(key, tuple) else [key]
    comps = [_host(k, op) for k in comps]
    if sum(k is Ellipsis for k in comps) > 1:
        raise IndexError(f"[{op}] an index can only have a single ellipsis ('...')")
    new_axes = [i for i, k in enumerate(comps) if k is None]
    real = [k for k in comps if k is not None]
    if (len(real) == 1 and isinstance(real[0], np.ndarray) and real[0].dtype == bool
            and real[0].ndim == 2):
        mask = real[0]
        if mask.shape != tuple(shape):
            raise IndexError(f"[{op}] boolean mask of shape {mask.shape} does not match {tuple(shape)}")
        if new_axes:
            raise IndexError(f"[{op}] None (np.newaxis) with a 2-D boolean mask is not supported")
        return _Pairs(*np.nonzero(mask)), []
    fill = max(0, 3 - len(real)) if any(k is Ellipsis for k in real) else 0
    order, expanded = [], []  # order: where each result axis comes from, "new" for None
    for k in comps:
        if k is None:
            order.append("new")
            continue
        for part in ([slice(None)] * fill if k is Ellipsis else [k]):
            order.append(len(expanded))
            expanded.append(part)
    if len(expanded) > 2:
        raise IndexError(f"[{op}] too many indices for a 2-D array: {len(expanded)}")
    while len(expanded) < 2:
        order.append(len(expanded))
        expanded.append(slice(None))
    parsed = [_axis(k, n, axis, op) for k, n, axis in zip(expanded, shape, ("row", "column"))]
    return parsed, (order if new_axes else [])


def _host(k, op):
    """A key component as None, Ellipsis, a slice, an int or a numpy array."""
    if k is None or k is Ellipsis or isinstance(k, slice):
        return k
    if isinstance(k, mx.array):
        return np.asarray(k)
    if isinstance(k, (bool, np.bool_)):
        raise IndexError(f"[{op}] a bare boolean is not a valid index; use a boolean array")
    try:
        return operator.index(k)
    except TypeError:
        pass
    if hasattr(k, "toarray") or hasattr(k, "todense"):
        raise TypeError(f"[{op}] a sparse index is not supported; use mask.toarray() as the index")
    if isinstance(k, (float, np.floating)):
        raise IndexError(f"[{op}] indices must be integers, slices or arrays, got float {k!r}")
    try:
        return np.asarray(k)
    except Exception:
        raise TypeError(f"[{op}] cannot index with {type(k).__name__}") from None


def _axis(k, n, axis, op):
    """One component, checked against the axis length n."""
    if isinstance(k, slice):
        return k
    if isinstance(k, int):
        if not -n <= k < n:
            raise IndexError(f"[{op}] {axis} index {k} is out of bounds for {n} {axis}s")
        return k + n if k < 0 else k
    if k.dtype == bool:
        if k.ndim != 1 or k.size != n:
            raise IndexError(f"[{op}] boolean {axis} index of shape {k.shape} does not match {n} {axis}s")
        return np.flatnonzero(k)
    if k.size == 0:
        k = k.astype(np.int64)
    if k.dtype.kind not in "iu":
        raise IndexError(f"[{op}] {axis} indices must be integers or booleans, got dtype {k.dtype}")
    if k.ndim == 0:
        return _axis(int(k), n, axis, op)
    if k.dtype.kind == "u" and k.size and k.max() >= n:  # before int64 could wrap it negative
        raise IndexError(f"[{op}] {axis} index {k.max()} is out of bounds for {n} {axis}s")
    k = k.astype(np.int64)
    if k.size and (k.min() < -n or k.max() >= n):
        bad = int(k[(k < -n) | (k >= n)][0])
        raise IndexError(f"[{op}] {axis} index {bad} is out of bounds for {n} {axis}s")
    return np.where(k < 0, k + n, k)


def _with_new_axes(A, comps, order):
    """A key with np.newaxis: scipy allows it beside ints and slices while at most two axes
    remain; the result holds A's selected rows and columns in the key's order, with axes of
    length 1 where None stood."""
    if isinstance(comps, _Pairs) or any(isinstance(k, np.ndarray) for k in comps):
        raise IndexError(f"[{_OP}] None (np.newaxis) beside index arrays is not supported")
    r, c = comps
    axes = [t for t in order if t == "new" or isinstance(comps[t], slice)]
    if len(axes) > 2:
        raise IndexError(f"[{_OP}] indexing that leads to a {len(axes)}-D result is not supported")
    B = _outer(A, np.array([r]) if isinstance(r, int) else r, np.array([c]) if isinstance(c, int) else c)
    want = tuple(1 if t == "new" else B.shape[t] for t in axes)
    if len(want) < 2 or isinstance(r, int) and isinstance(c, int):  # an entry stays dense, as scipy
        return mx.reshape(B.todense(), want)
    return B if B.shape == want else B.transpose()  # one of B's axes has length 1


# ---- rows and columns (outer indexing): the result is a CSRArray

def _outer(A, rows, cols):
    """A[rows][:, cols] for rows and cols each a slice or a 1-D int array."""
    from ._csr import CSRArray

    A._check_structure(_OP)
    m, n = A.shape
    ip, ix = A._host_structure()
    data = A["data"]
    sorted_rows = A._sorted
    if isinstance(rows, slice) and rows.step in (None, 1):
        start, stop, _ = rows.indices(m)
        stop = max(start, stop)
        lo, hi = int(ip[start]), int(ip[stop])
        new_ip = ip[start:stop + 1] - ip[start]
        new_ix = ix[lo:hi]
        pos = None  # the entries lo:hi, a slice of the values
        values = data[lo:hi]
    else:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(m))
        every_column = isinstance(cols, slice) and cols.indices(n) == (0, n, 1)
        if every_column:  # A[rows]: one pass in C++, a row copy
            try:
                return _row_gather(A, rows)
            except OverflowError:  # more entries than int32 indices hold: widened below
                pass
        new_ip, pos = _row_positions(ip, rows)
        new_ix = np.take(ix, pos)
        values = None
    k = new_ip.size - 1
    if not (isinstance(cols, slice) and cols.indices(n) == (0, n, 1)):
        new_ip, new_ix, keep = _select_columns(new_ip, new_ix, cols, n)
        increasing = isinstance(cols, slice) and cols.indices(n)[2] > 0 or (
            isinstance(cols, np.ndarray) and bool(np.all(np.diff(cols) > 0)))
        sorted_rows = sorted_rows if increasing else None
        if pos is None:
            pos = keep + lo
        else:
            pos = pos[keep]
        values = None
        n = _length(cols, n)
    if values is None:
        values = _gather(data, pos)
    idt = _index_dtype(A, (k, n, new_ix.size))
    out = CSRArray(values, mx.array(new_ix.astype(idt, copy=False)),
                   mx.array(new_ip.astype(idt, copy=False)), (k, n),
                   sorted_indices=sorted_rows, canonical=A._canonical if sorted_rows else None,
                   check=False)
    return out


def _row_gather(A, rows):
    """A[rows] (all columns) by csr_row_gather: the structure on the host in C++, the values
    a lazy row copy (MLX's take on the GPU), differentiable."""
    from ._csr import CSRArray

    rows = mx.array(rows.astype(np.int64 if A.index_dtype == mx.int64 else np.int32, copy=False))
    new_ip, new_ix = _ext.csr_row_gather_structure(A.indptr, A.indices, rows)
    values = _ext.csr_row_gather(A.indptr, A["data"], rows, new_ip)
    return CSRArray(values, new_ix, new_ip, (rows.size, A.shape[1]), sorted_indices=A._sorted,
                    canonical=A._canonical, check=False)


def _gather(data, pos):
    """data[pos] as a differentiable MLX gather (take_along_axis: several times faster than
    mx.take on MLX 0.32's CPU for a flat gather)."""
    if pos.size == 0:
        return mx.zeros((0,), data.dtype)
    return mx.take_along_axis(data, mx.array(pos), axis=0)


def _row_positions(ip, rows):
    """(indptr, positions) of rows gathered from a CSR structure: the entries of each row
    in turn, found with one repeat and one arange (no loop over rows)."""
    starts = ip[rows]
    lengths = ip[rows + 1] - starts
    total = int(lengths.sum(dtype=np.int64))
    dt = np.int32 if total <= _INT32_MAX and ip.dtype == np.int32 else np.int64
    new_ip = np.empty(rows.size + 1, dtype=dt)
    new_ip[0] = 0
    np.cumsum(lengths, out=new_ip[1:])
    pos = np.arange(total, dtype=dt)
    pos += np.repeat((starts - new_ip[:-1]).astype(dt, copy=False), lengths)
    return new_ip, pos


def _select_columns(ip, ix, cols, n):
    """Keep (and renumber, and repeat) each row's entries by the column key: a slice or
    an int array, which may repeat columns. Returns (indptr, indices, kept positions)."""
    if isinstance(cols, slice) and cols.indices(n)[2] == 1:
        start, stop, _ = cols.indices(n)
        where = np.flatnonzero((ix >= start) & (ix < stop))
        new_ix = ix[where] - start
    else:
        if isinstance(cols, slice):
            cols = np.arange(*cols.indices(n))
        if n <= 8 * ix.size + 4096:  # a table of the selected columns, n bytes
            chosen = np.zeros(n, dtype=bool)
            chosen[cols] = True
            hit = np.flatnonzero(chosen[ix])
        else:  # far more columns than entries: a table would outweigh them, search each entry
            hit = np.arange(ix.size)
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        lo = np.searchsorted(sorted_cols, ix[hit], side="left")
        times = np.searchsorted(sorted_cols, ix[hit], side="right") - lo  # times selected
        where = np.repeat(hit, times)
        starts = np.cumsum(times) - times
        first = np.repeat(lo - starts, times) + np.arange(where.size)
        new_ix = order[first]
    # `where` is sorted: the kept entries before row i's start count rows 0..i-1's
    return np.searchsorted(where, ip, side="left"), new_ix, where


def _length(k, n):
    return len(range(*k.indices(n))) if isinstance(k, slice) else k.size


def _index_dtype(A, sizes):
    """A's index dtype, unless a size of the result does not fit it."""
    if A.index_dtype == mx.int32 and max(sizes, default=0) <= _INT32_MAX:
        return np.int32
    return np.int64


# ---- single entries

def _entry_positions(A, rows, cols):
    """For entries (rows[k], cols[k]): (positions in the canonical form's values, found)."""
    C = A._canonical_copy()
    C._check_structure(_OP)
    keys = C._cache.get("keys")
    if keys is None:
        ip, ix = C._host_structure()
        row_of = np.repeat(np.arange(C.shape[0], dtype=np.int64), np.diff(ip))
        keys = C._cache["keys"] = row_of * C.shape[1] + ix
    want = rows.astype(np.int64) * A.shape[1] + cols
    pos = np.searchsorted(keys, want)
    found = pos < keys.size
    found[found] = keys[pos[found]] == want[found]
    return C, np.where(found, pos, 0), found


def _elements(A, rows, cols):
    """The entries A[rows[k], cols[k]] (duplicates summed) in a dense array of their shape."""
    rows, cols = np.broadcast_arrays(rows, cols)
    C, pos, found = _entry_positions(A, rows.ravel(), cols.ravel())
    if C.nnz == 0 or not found.any():
        return mx.zeros(rows.shape, dtype=A.dtype)
    values = _gather(C["data"], pos)
    values = mx.where(mx.array(found), values, mx.zeros((), values.dtype))
    return mx.reshape(values, rows.shape)


def _fancy(A, r, c):
    """Index arrays broadcast together, numpy's rule: a 1-D result is dense, a 2-D one a
    CSRArray of the entries found; rows[:, None] beside a 1-D cols is outer indexing."""
    from ._csr import CSRArray

    if isinstance(r, slice) or isinstance(c, slice):
        raise IndexError(f"[{_OP}] a 2-D index array beside a slice gives more than 2 dimensions")
    try:
        R, Cc = np.broadcast_arrays(np.asarray(r), np.asarray(c))
    except ValueError:
        raise IndexError(
            f"[{_OP}] shape mismatch: index arrays of shapes {np.shape(r)} and {np.shape(c)} "
            "do not broadcast") from None
    if R.ndim > 2:
        raise IndexError(f"[{_OP}] indexing that leads to a {R.ndim}-D result is not supported")
    if R.ndim < 2:
        return _elements(A, R, Cc)
    r, c = np.asarray(r), np.asarray(c)
    if r.ndim == 2 and r.shape[1] == 1 and (c.ndim == 1 or c.ndim == 2 and c.shape[0] == 1):
        return _outer(A, r[:, 0], c.reshape(-1))
    C, pos, found = _entry_positions(A, R.ravel(), Cc.ravel())
    k, n = R.shape
    hit = np.flatnonzero(found)
    indptr = np.zeros(k + 1, np.int64)
    np.cumsum(np.bincount(hit // max(n, 1), minlength=k), out=indptr[1:])
    idt = _index_dtype(A, (k, n, hit.size))
    values = _gather(C["data"], pos[hit])
    return CSRArray(values, mx.array((hit % max(n, 1)).astype(idt)),
                    mx.array(indptr.astype(idt)), (k, n), sorted_indices=True, canonical=True,
                    check=False)


# ---- assignment: values inside the pattern

def setitem(A, key, value):
    """``A[key] = value`` where every entry it sets is stored in A's pattern (or is set to
    zero): the values change, in place, as scipy's do; the pattern never grows."""
    op = "setitem"
    comps, new_axes = _parse(key, A.shape, op)
    if new_axes:
        raise IndexError(f"[{op}] None (np.newaxis) is not supported in assignment")
    rows, cols = _addressed(comps, A.shape)
    shape = rows.shape
    if isinstance(value, mx.array):
        v = value
    elif hasattr(value, "_with_data"):  # a sparse array of ours
        v = value.todense()
    else:
        host = np.asarray(value.toarray() if hasattr(value, "toarray") else value)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"[{op}] values must be real numbers, got {host.dtype}")
        # host numbers in A's precision (mx.array would make float64 float32)
        wide = A.dtype == mx.float64
        v = mx.array(host, dtype=mx.float64 if wide else mx.float32)
    if not (mx.issubdtype(v.dtype, mx.floating) or mx.issubdtype(v.dtype, mx.integer)
            or v.dtype == mx.bool_):
        raise TypeError(f"[{op}] values must be real numbers, got {v.dtype}")
    try:  # the shapes alone: another error of MLX's (float64 on a GPU) must pass as itself
        if np.broadcast_shapes(tuple(v.shape), tuple(shape)) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"[{op}] values of shape {tuple(v.shape)} do not broadcast "
                         f"to the indexed shape {shape}") from None
    v = mx.broadcast_to(v, shape)
    rows, cols, v = rows.ravel(), cols.ravel(), mx.reshape(v, (-1,))
    if not A.has_canonical_format:
        A.sum_duplicates()  # as scipy: one stored value per entry to set
    _, pos, found = _entry_positions(A, rows, cols)
    if not found.all():
        missing = np.flatnonzero(~found)
        outside = np.asarray(v[mx.array(missing)].astype(mx.float32))
        if np.any(outside != 0):
            at = missing[np.flatnonzero(outside != 0)[0]]
            raise ValueError(
                f"[{op}] entry ({int(rows[at])}, {int(cols[at])}) is not stored: the pattern of a "
                "CSRArray is immutable, and assignment only changes stored values; build a new "
                "array, e.g. A + ms.csr_array((values, (rows, cols)), shape=A.shape)")
    hit = np.flatnonzero(found)
    if hit.size == 0:
        return
    # numpy's rule for an entry set twice: the last value wins
    last = hit[::-1][np.unique(pos[hit][::-1], return_index=True)[1]]
    where = mx.array(pos[last])
    data = A["data"]
    new = mx.zeros(data.shape, data.dtype).at[where].add(mx.take(v, mx.array(last)).astype(data.dtype))
    mask = np.ones(data.shape, dtype=bool)
    mask[pos[last]] = False
    A["data"] = mx.where(mx.array(mask), data, new)


def _addressed(comps, shape):
    """Row and column of every entry a key addresses, as two arrays of the result's shape."""
    if isinstance(comps, _Pairs):
        return comps.rows, comps.cols
    m, n = shape
    r, c = comps
    r = np.arange(*r.indices(m)) if isinstance(r, slice) else np.asarray(r)
    c = np.arange(*c.indices(n)) if isinstance(c, slice) else np.asarray(c)
    outer = isinstance(comps[0], slice) or isinstance(comps[1], slice)
    if outer and r.ndim == 1 and c.ndim == 1:
        r = r[:, None]
    elif outer and (r.ndim > 1 or c.ndim > 1):
        raise IndexError("[setitem] a 2-D index array beside a slice gives more than 2 dimensions")
    try:
        return np.broadcast_arrays(r, c)
    except ValueError:
        raise IndexError(f"[setitem] index arrays of shapes {r.shape} and {c.shape} do not broadcast") from None
