"""norm of a sparse matrix or of its rows / columns, as scipy.sparse.linalg.norm: MLX ops on
the canonical values (duplicates summed first), so lazy and differentiable."""

from __future__ import annotations

import math

import mlx.core as mx

from .. import _ops
from ._operator import _as_csr

_MATRIX_ORDS = (None, "fro", 1, -1, math.inf, -math.inf)


def norm(x, ord=None, axis=None):  # noqa: A002 - scipy's name
    """A matrix norm, or the vector norms of the rows / columns, of a sparse x.

    Parameters
    ----------
    x : CSRArray or scipy.sparse array
    ord : {None, "fro", 1, -1, inf, -inf} for a matrix norm; a number for vector norms
        Matrix: Frobenius (None, "fro"), max / min column sum of ``|x|`` (1, -1), max / min
        row sum (inf, -inf). The 2-norm is ``svds(x, k=1)``, as scipy says too.
        Vectors: ``sum(|v|^ord)^(1/ord)``, with 0 counting nonzeros and +-inf max / min ``|v|``.
    axis : None, int or (int, int)
        None or a pair: the matrix norm. 0 or -2: one norm per column; 1 or -1: per row.

    Returns
    -------
    mx.array
        A scalar, or (n,) / (m,) norms.
    """
    A = _as_csr(x)
    if A is None:
        raise TypeError(f"[norm] x must be a sparse array (CSRArray or scipy.sparse), got {type(x).__name__}")
    A = A._canonical_copy()
    if axis is None or (isinstance(axis, tuple) and len(axis) == 2):
        if isinstance(axis, tuple) and sorted(a % 2 for a in axis) != [0, 1]:
            raise ValueError(f"[norm] invalid axis {axis} for a 2-D array")
        return _matrix_norm(A, ord)
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    if not isinstance(axis, int) or axis not in (0, 1, -1, -2):
        raise ValueError(f"[norm] axis must be None, 0, 1, -1, -2 or a pair, got {axis!r}")
    return _vector_norms(A, 2 if ord is None else ord, axis % 2)


def _matrix_norm(A, ord):
    if ord in (2, -2):
        raise NotImplementedError("[norm] the 2-norm of a sparse matrix is its largest singular "
                                  "value: use mlx_sparse.linalg.svds(x, k=1)")
    if ord not in _MATRIX_ORDS:
        raise ValueError(f"[norm] invalid matrix norm order {ord!r}")
    values = A.data
    if ord in (None, "fro"):
        return mx.sqrt(mx.sum(values * values))
    axis = 0 if ord in (1, -1) else 1  # column sums for 1, row sums for inf
    sums = _ops.sum(A._with_data(mx.abs(values)), axis=axis).reshape(-1)
    if sums.size == 0:
        return mx.array(0, dtype=values.dtype)
    return mx.max(sums) if ord in (1, math.inf) else mx.min(sums)


def _vector_norms(A, ord, axis):
    """Norms of columns (axis 0) or rows (axis 1); an empty one has norm 0."""
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise ValueError(f"[norm] invalid vector norm order {ord!r}")
    mags = mx.abs(A.data)
    length = A.shape[1 - axis]
    where = A.indices if axis == 0 else A._rows()
    zeros = mx.zeros((length,), dtype=mags.dtype)
    if ord == math.inf:
        return zeros.at[where].maximum(mags)
    if ord == -math.inf:
        return _min_magnitude(A, mags, where, length, axis)
    if ord == 0:
        return zeros.at[where].add((mags != 0).astype(mags.dtype))
    if ord == 1:
        return zeros.at[where].add(mags)
    total = zeros.at[where].add(mags ** ord)
    return total ** (1.0 / ord)


def _min_magnitude(A, mags, where, length, axis):
    """min |v| per row/column; a row with an unstored (zero) entry has minimum 0."""
    big = mx.full((length,), mx.inf, dtype=mags.dtype)
    smallest = big.at[where].minimum(mags)
    stored = mx.zeros((length,), dtype=mx.int32).at[where].add(mx.ones_like(where, dtype=mx.int32))
    full = stored == A.shape[axis]
    return mx.where(full, smallest, mx.zeros_like(smallest))
