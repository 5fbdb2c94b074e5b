"""Graph and matrix helpers: eye (eye_array, identity), diags, random (rand, random_array),
from_edge_index, normalize_adjacency.

Patterns are built on the host with numpy (they are structure, not values); values are MLX
arrays, so ``from_edge_index(..., values=v)`` and ``normalize_adjacency`` stay differentiable
in the values they are given.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ._base import check_shape
from ._construct import csr_array
from ._dtypes import value_dtype
from ._csr import CSRArray, _to_numpy
from ._structure import _as_format


def eye(m: int, n: int | None = None, *, k: int = 0, dtype=mx.float32, format=None,
        index_dtype=None) -> CSRArray:
    """The (m, n) CSRArray with ones on diagonal ``k``, as ``scipy.sparse.eye_array``
    (float32 by default, MLX's default, where scipy's is float64)."""
    n = m if n is None else n
    m, n = check_shape((m, n), "eye")
    out = diags(np.ones(_diagonal_length(m, n, k)), k, shape=(m, n), dtype=dtype,
                index_dtype=index_dtype)
    return _as_format(out, format, "eye")


eye_array = eye


def identity(n: int, dtype=mx.float32, format=None) -> CSRArray:
    """The (n, n) identity, as ``scipy.sparse.identity`` (float32 by default)."""
    return _as_format(eye(n, dtype=dtype), format, "identity")


def diags(diagonals, offsets=0, shape=None, format=None, dtype=None, *,
          index_dtype=None) -> CSRArray:
    """A CSRArray from diagonals, as ``scipy.sparse.diags`` / ``diags_array``.

    Parameters
    ----------
    diagonals : array, or sequence of arrays or scalars
        The values of each diagonal; a scalar fills its whole diagonal (with one offset,
        ``diagonals`` itself is that diagonal). mx arrays keep their gradient: the result's
        values are gathered from them. A diagonal longer than needed is cut, as scipy's.
    offsets : int or sequence of int
        Diagonal of each: 0 main, k > 0 above, k < 0 below.
    shape : tuple of int, optional
        Defaults to the smallest square matrix holding the first diagonal, as scipy's.
    format : str, optional
        ``'csr'`` (or None); another format through ``asformat`` where available.
    dtype : dtype, optional
        float32 unless the diagonals are float64 mx arrays or float64 is asked for.
    """
    single = np.isscalar(offsets) or np.ndim(offsets) == 0
    offsets = [int(offsets)] if single else [int(o) for o in offsets]
    if single and (isinstance(diagonals, mx.array) or np.ndim(diagonals) <= 1):
        diagonals = [diagonals]  # one offset: `diagonals` is the diagonal itself
    elif not isinstance(diagonals, (list, tuple)):
        diagonals = list(diagonals)
    if len(diagonals) != len(offsets):
        raise ValueError(f"[diags] {len(diagonals)} diagonals but {len(offsets)} offsets")
    if len(set(offsets)) != len(offsets):
        raise ValueError(f"[diags] repeated offsets {offsets}")
    dtype = None if dtype is None else value_dtype(dtype, "diags")  # names, numpy dtypes
    vals = [d if isinstance(d, mx.array) else _host_values(d, dtype) for d in diagonals]
    if shape is None:
        size = (vals[0].size if vals[0].ndim else 1) + abs(offsets[0]) if vals else 0
        shape = (size, size)
    m, n = check_shape(shape, "diags")
    rows, cols, parts = [], [], []
    for v, k in zip(vals, offsets):
        if min(m + k, n - k) < 0:
            raise ValueError(f"[diags] offset {k} is out of bounds for shape {(m, n)}")
        length = _diagonal_length(m, n, k)
        if v.ndim == 0:
            v = mx.broadcast_to(v, (length,))
        if v.ndim != 1 or v.size < length:
            raise ValueError(f"[diags] diagonal {k} needs {length} values, got shape {tuple(v.shape)}")
        r = np.arange(length) + max(0, -k)
        rows.append(r)
        cols.append(r + k)
        parts.append(v[:length])
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    data = mx.concatenate(parts) if parts else mx.zeros((0,))
    if dtype is not None:
        data = data.astype(dtype)
    out = csr_array((data, (row, col)), shape=(m, n), index_dtype=index_dtype)
    return _as_format(out, format, "diags")


def diags_array(diagonals, /, *, offsets=0, shape=None, format=None, dtype=None,
                index_dtype=None) -> CSRArray:
    """:func:`diags` with ``scipy.sparse.diags_array``'s signature."""
    return diags(diagonals, offsets, shape, format, dtype, index_dtype=index_dtype)


def random(m: int, n: int, density: float = 0.01, format="csr", dtype=mx.float32, rng=None,
           data_rvs=None, *, random_state=None, seed=None, index_dtype=None,
           data_sampler=None) -> CSRArray:
    """An (m, n) sparse array with ``round(density * m * n)`` entries at distinct random
    places, as ``scipy.sparse.random``: given the same ``rng`` (or the legacy
    ``random_state``), the very entries scipy draws (values rounded to ``dtype``).

    Parameters
    ----------
    density : float
        The fraction of entries stored, in [0, 1].
    format : str
        ``'csr'`` (the default here, where scipy's is ``'coo'``); another format through
        ``asformat`` where available.
    dtype : dtype
        The values' dtype, float32 by default (scipy's: float64).
    rng, random_state, seed : int, numpy Generator or RandomState, optional
        The source of randomness (one of them; ``seed`` is this package's older name of ``rng``).
    data_rvs, data_sampler : callable, optional
        ``f(size)`` returning the values (uniform in [0, 1) by default).
    """
    return _random((m, n), density, format, dtype, rng, random_state, seed,
                   data_rvs if data_sampler is None else data_sampler, index_dtype, "random")


def rand(m: int, n: int, density: float = 0.01, format="csr", dtype=mx.float32, rng=None, *,
         random_state=None, seed=None, index_dtype=None) -> CSRArray:
    """:func:`random` with uniform values, as ``scipy.sparse.rand``."""
    return _random((m, n), density, format, dtype, rng, random_state, seed, None, index_dtype,
                   "rand")


def random_array(shape, *, density=0.01, format="csr", dtype=mx.float32, rng=None,
                 data_sampler=None, random_state=None, index_dtype=None) -> CSRArray:
    """:func:`random` with ``scipy.sparse.random_array``'s signature."""
    return _random(shape, density, format, dtype, rng, random_state, None, data_sampler,
                   index_dtype, "random_array")


def _random(shape, density, format, dtype, rng, random_state, seed, sampler, index_dtype, op):
    import scipy.sparse as sp

    shape = check_shape(shape, op)
    dtype = value_dtype(dtype or mx.float32, op)
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"[{op}] density must be in [0, 1], got {density}")
    given = [(name, v) for name, v in (("rng", rng), ("random_state", random_state), ("seed", seed))
             if v is not None]
    if len(given) > 1:
        raise ValueError(f"[{op}] pass one of rng, random_state and seed, got {[g[0] for g in given]}")
    source = {"random_state" if given and given[0][0] == "random_state" else "rng":
              given[0][1] if given else None}
    S = sp.random_array(shape, density=density, format="csr", dtype=np.float64,
                        data_sampler=sampler, **source)
    out = csr_array(S, dtype=dtype, index_dtype=index_dtype)
    return _as_format(out, format, op)


def from_edge_index(edge_index, num_nodes: int | None = None, values=None, *,
                    dtype=mx.float32, index_dtype=None) -> CSRArray:
    """The (num_nodes, num_nodes) adjacency of a graph given as a (2, E) edge list.

    Row ``edge_index[0, e]``, column ``edge_index[1, e]`` (source -> target, as in
    torch_geometric). Repeated edges are summed; ``values`` (E,) default to ones and keep
    their gradient.
    """
    ei = _to_numpy(edge_index) if isinstance(edge_index, mx.array) else np.asarray(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"[from_edge_index] edge_index must have shape (2, E), got {ei.shape}")
    if num_nodes is None:
        num_nodes = int(ei.max()) + 1 if ei.size else 0
    if ei.size and (ei.min() < 0 or ei.max() >= num_nodes):
        raise ValueError(
            f"[from_edge_index] node ids must be in [0, {num_nodes}), got {ei.min()}..{ei.max()}"
        )
    if values is None:
        values = mx.ones((ei.shape[1],), dtype=dtype)
    return csr_array((values, (ei[0], ei[1])), shape=(num_nodes, num_nodes),
                     index_dtype=index_dtype)


def normalize_adjacency(A: CSRArray, *, add_self_loops: bool = True) -> CSRArray:
    """D^-1/2 (A + I) D^-1/2 (Kipf & Welling), D the row sums; without self-loops D^-1/2 A D^-1/2.

    Rows of zero degree stay zero. Compute it once per graph: its pattern is built on the host.
    """
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"[normalize_adjacency] expected a square matrix, got {A.shape}")
    if add_self_loops:
        A = A + eye(A.shape[0], dtype=A.dtype, index_dtype=A.index_dtype)
    A = A._canonical_copy()
    deg = A.sum(axis=1)
    inv = mx.where(deg > 0, mx.rsqrt(mx.maximum(deg, 1e-30)), 0)
    rows = A._rows()
    return A._with_data(A.data * mx.take(inv, rows) * mx.take(inv, A.indices))


def _host_values(x, dtype) -> mx.array:
    """Host numbers as an mx.array: float64 only when asked for (float32 otherwise)."""
    wide = dtype is not None and dtype == mx.float64
    return mx.array(np.asarray(x, dtype=np.float64), dtype=mx.float64 if wide else mx.float32)


def _diagonal_length(m: int, n: int, k: int) -> int:
    return max(0, min(m + min(k, 0), n - max(k, 0)))
