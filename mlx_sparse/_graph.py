"""Graph and matrix helpers: eye, diags, random, from_edge_index, normalize_adjacency.

Patterns are built on the host with numpy (they are structure, not values); values are MLX
arrays, so ``from_edge_index(..., values=v)`` and ``normalize_adjacency`` stay differentiable
in the values they are given.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ._construct import csr_array
from ._csr import CSRArray, _to_numpy


def eye(m: int, n: int | None = None, *, k: int = 0, dtype=mx.float32,
        index_dtype=None) -> CSRArray:
    """The (m, n) CSRArray with ones on diagonal ``k``, as ``scipy.sparse.eye_array``."""
    n = m if n is None else n
    return diags(np.ones(_diagonal_length(m, n, k)), k, shape=(m, n), dtype=dtype,
                 index_dtype=index_dtype)


def diags(diagonals, offsets=0, *, shape=None, dtype=None, index_dtype=None) -> CSRArray:
    """A CSRArray from diagonals, as ``scipy.sparse.diags_array``.

    Parameters
    ----------
    diagonals : array or sequence of arrays
        The values of each diagonal (a scalar fills the whole diagonal). mx arrays keep
        their gradient: the result's values are gathered from them.
    offsets : int or sequence of int
        Diagonal of each: 0 main, k > 0 above, k < 0 below.
    shape : tuple of int, optional
        Defaults to the smallest square matrix that holds the diagonals.
    """
    single = np.isscalar(offsets)
    offsets = [int(offsets)] if single else [int(o) for o in offsets]
    if single or (not isinstance(diagonals, (list, tuple)) or np.isscalar(diagonals[0])):
        diagonals = [diagonals]
    if len(diagonals) != len(offsets):
        raise ValueError(f"[diags] {len(diagonals)} diagonals but {len(offsets)} offsets")
    if len(set(offsets)) != len(offsets):
        raise ValueError(f"[diags] repeated offsets {offsets}")
    vals = [d if isinstance(d, mx.array) else _host_values(d, dtype) for d in diagonals]
    if shape is None:
        size = max(v.size + abs(k) if v.ndim else 1 + abs(k) for v, k in zip(vals, offsets))
        shape = (size, size)
    m, n = int(shape[0]), int(shape[1])
    rows, cols, parts = [], [], []
    for v, k in zip(vals, offsets):
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
    return csr_array((data, (row, col)), shape=(m, n), index_dtype=index_dtype)


def random(m: int, n: int, density: float = 0.01, *, seed=None, dtype=mx.float32,
           index_dtype=None, data_sampler=None) -> CSRArray:
    """An (m, n) CSRArray with ``round(density * m * n)`` entries at distinct random places.

    Values are uniform in [0, 1) (or ``data_sampler(size)``, a numpy array), like
    ``scipy.sparse.random``; ``seed`` (an int or a numpy Generator) makes it reproducible.
    """
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"[random] density must be in [0, 1], got {density}")
    rng = np.random.default_rng(seed)
    total = int(m) * int(n)
    k = int(round(density * total))
    flat = rng.choice(total, size=k, replace=False) if k else np.zeros(0, np.int64)
    vals = rng.random(k) if data_sampler is None else np.asarray(data_sampler(k))
    row, col = np.divmod(np.sort(flat), n) if n else (flat, flat)
    return csr_array((_host_values(vals, dtype).astype(dtype), (row, col)), shape=(m, n),
                     index_dtype=index_dtype)


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
