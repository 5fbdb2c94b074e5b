"""Reductions of every format: ``sum``, ``mean``, ``max``, ``min``, ``argmax``, ``argmin``,
``count_nonzero``, ``nonzero``, with scipy's semantics (implicit zeros count, duplicates are
summed first) and MLX results.

Each is written once, on the canonical CSR form (:meth:`SparseArray._deduped_csr`); the
other formats reach it through their CSR form. Values stay lazy MLX arrays: ``max`` and
``min`` gather the chosen entries (the positions found with the values held constant), so
their gradient reaches the entries that won, as numpy's ``max`` gradient would.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np


def _axis(axis, op: str):
    """None, 0 or 1 (scipy's axes of a matrix; -2 and -1 alike)."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and -2 <= axis <= 1:
        return int(axis) % 2
    raise ValueError(f"[{op}] axis must be None, 0 or 1 (or -2, -1), got {axis!r}")


def _segments(A, axis):
    """(segment of each stored entry, number of segments, entries each segment spans)."""
    m, n = A.shape
    if axis is None:
        return mx.zeros((A.nnz,), dtype=mx.int32), 1, m * n
    if axis == 1:
        return A._rows(), m, n
    return A.indices, n, m


def _numbers(A):
    """A with numeric values: a bool array (a comparison's result) counts as 0 / 1 in float32,
    the kernels taking no bool."""
    return A.astype(mx.float32) if A.dtype == mx.bool_ else A


def _keep(out, axis, keepdims: bool, shape):
    """Shape a reduction as numpy does: () or (k,), or (1, 1), (1, n), (m, 1) with keepdims."""
    if not keepdims:
        return out
    return mx.reshape(out, (1, 1) if axis is None else ((1, shape[1]) if axis == 0 else (shape[0], 1)))


def _empty_reduction(A, axis, op: str):
    size = A.shape[0] * A.shape[1] if axis is None else A.shape[axis]
    if size == 0:
        raise ValueError(f"[{op}] zero-size array to reduction operation {op} which has no "
                         f"identity (shape {A.shape}, axis {axis})")


class ReduceMixin:
    """The reductions of :class:`SparseArray` (see the module docstring)."""

    def sum(self, axis=None, dtype=None, out=None, *, keepdims=False, stream=None):
        """Sum of all entries (``axis=None``, a 0-d array), of each column (``axis=0``) or of
        each row (``axis=1``); ``keepdims`` keeps the reduced axis as 1. ``dtype`` (a value
        dtype) is the accumulation dtype. Differentiable in the values."""
        from . import _dtypes
        from ._ops import sum as csr_sum

        if out is not None:
            raise TypeError(f"[sum] out= is not supported (MLX arrays are immutable); use the result")
        axis = _axis(axis, "sum")
        A = _numbers(self._deduped_csr(False))
        if dtype is not None:
            A = A.astype(_dtypes.value_dtype(dtype, "sum"))
        return _keep(csr_sum(A, axis, stream=stream), axis, keepdims, self.shape)

    def mean(self, axis=None, dtype=None, out=None, *, keepdims=False):
        """Mean of all entries, of each column (``axis=0``) or of each row (``axis=1``),
        implicit zeros included. Differentiable in the values."""
        axis = _axis(axis, "mean")
        total = self.sum(axis, dtype, out, keepdims=keepdims)
        count = self.shape[0] * self.shape[1] if axis is None else self.shape[axis]
        if count == 0:
            return total * float("nan")  # numpy's mean of nothing, without its warning
        return total / count

    def max(self, axis=None, out=None, *, explicit=False, keepdims=False):
        """Largest entry (``axis=None``) or of each column / row, implicit zeros included
        unless ``explicit=True`` (then only stored entries; a segment without any gives 0)."""
        return self._extreme(axis, out, explicit, keepdims, True, "max")

    def min(self, axis=None, out=None, *, explicit=False, keepdims=False):
        """Smallest entry (``axis=None``) or of each column / row (see :meth:`max`)."""
        return self._extreme(axis, out, explicit, keepdims, False, "min")

    def _extreme(self, axis, out, explicit, keepdims, largest, op):
        if out is not None:
            raise TypeError(f"[{op}] out= is not supported (MLX arrays are immutable); use the result")
        axis = _axis(axis, op)
        _empty_reduction(self, axis, op)
        A = _numbers(self._deduped_csr(True))
        seg, count, span = _segments(A, axis)
        if A.nnz == 0:  # MLX's scatter of nothing is not needed: every entry is zero
            return _keep(mx.zeros((count,) if axis is not None else (), dtype=A.dtype), axis, keepdims,
                         self.shape)
        key = mx.stop_gradient(A.data) if largest else -mx.stop_gradient(A.data)
        best = mx.full((count,), -mx.inf, dtype=key.dtype).at[seg].maximum(key)
        where = mx.arange(A.nnz, dtype=mx.int32)
        first = mx.full((count,), A.nnz, dtype=mx.int32).at[seg].minimum(
            mx.where(key == best[seg], where, A.nnz))
        picked = mx.take(mx.concatenate([A.data, mx.zeros((1,), dtype=A.dtype)]), first)
        if not explicit:  # an implicit zero wins where the segment is not full
            stored = mx.zeros((count,), dtype=mx.int32).at[seg].add(1)
            zero_wins = (picked < 0) if largest else (picked > 0)
            picked = mx.where((stored < span) & zero_wins, mx.zeros_like(picked), picked)
        return _keep(picked if axis is not None else picked[0], axis, keepdims, self.shape)

    def argmax(self, axis=None, out=None, *, explicit=False):
        """Index of the first largest entry: flat (row-major) for ``axis=None``, else the
        row of each column's (``axis=0``) or the column of each row's (``axis=1``), implicit
        zeros included unless ``explicit=True``. Read on the host; an mx.array of int64."""
        return self._arg_extreme(axis, out, explicit, True, "argmax")

    def argmin(self, axis=None, out=None, *, explicit=False):
        """Index of the first smallest entry (see :meth:`argmax`)."""
        return self._arg_extreme(axis, out, explicit, False, "argmin")

    def _arg_extreme(self, axis, out, explicit, largest, op):
        from ._base import _to_numpy

        if out is not None:
            raise TypeError(f"[{op}] out= is not supported (MLX arrays are immutable); use the result")
        axis = _axis(axis, op)
        _empty_reduction(self, axis, op)
        A = _numbers(self._deduped_csr(True))
        m, n = A.shape
        rows, cols = np.asarray(A._rows()).astype(np.int64), np.asarray(A.indices).astype(np.int64)
        vals = _to_numpy(A.data).astype(np.float64)
        vals = vals if largest else -vals
        if axis is None:
            if explicit and A.nnz == 0:
                raise ValueError(f"[{op}] no stored entry to choose from (explicit=True)")
            found = _first_best(np.zeros_like(rows), rows * n + cols, vals, 1, m * n, explicit)
            return mx.array(found[0])
        seg, pos, count, span = (cols, rows, n, m) if axis == 0 else (rows, cols, m, n)
        return mx.array(_first_best(seg, pos, vals, count, span, explicit))

    def count_nonzero(self, axis=None):
        """Number of nonzero entries (duplicates summed first; explicit zeros not counted),
        in all (an int) or per column / row (an mx.array of int64)."""
        from ._base import _to_numpy

        axis = _axis(axis, "count_nonzero")
        A = self._deduped_csr(True)
        nonzero = _to_numpy(A.data) != 0
        if axis is None:
            return int(np.count_nonzero(nonzero))
        seg = np.asarray(A.indices if axis == 0 else A._rows())
        return mx.array(np.bincount(seg[nonzero], minlength=A.shape[1 - axis]).astype(np.int64))

    def nonzero(self):
        """``(row, col)`` of the stored entries whose value is nonzero, as scipy's (stored
        order of the COO form, duplicates not summed): two mx.arrays."""
        from ._base import _to_numpy

        coo = self.tocoo()
        keep = mx.array(np.flatnonzero(_to_numpy(coo.data) != 0))
        return mx.take(coo.row, keep), mx.take(coo.col, keep)


def _first_best(seg, pos, vals, count, span, explicit):
    """For each segment, the smallest pos among its largest values; an implicit zero (the
    first position the segment does not store) wins when better, or equal and earlier.
    seg, pos: the segment and position of each stored entry (unique pairs), O(nnz log nnz)."""
    stored = np.bincount(seg, minlength=count)
    best, best_pos = np.full(count, -np.inf), np.zeros(count, dtype=np.int64)
    if seg.size:
        order = np.lexsort((pos, -vals, seg))  # per segment: best value first, then first position
        heads = order[np.r_[True, seg[order][1:] != seg[order][:-1]]]
        best[seg[heads]], best_pos[seg[heads]] = vals[heads], pos[heads]
    if explicit:
        return best_pos
    # first position each segment does not store: where the sorted positions leave their rank
    order = np.lexsort((pos, seg))
    s, p = seg[order], pos[order]
    rank = np.arange(s.size) - np.searchsorted(s, np.arange(count))[s]
    first_zero = stored.copy()
    gap = p != rank
    np.minimum.at(first_zero, s[gap], rank[gap])
    zero_wins = (stored < span) & ((best < 0) | ((best == 0) & (first_zero < best_pos)))
    return np.where(zero_wins, first_zero, best_pos)
