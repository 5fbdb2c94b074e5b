"""The Krylov basis shared by gmres, eigsh and svds: Arnoldi steps as lazy MLX ops (one
evaluation per call), each new vector orthogonalised twice by classical Gram-Schmidt, which
keeps the basis orthonormal in floating point (Giraud et al., "twice is enough")."""

from __future__ import annotations

import mlx.core as mx
import numpy as np


def extend(op, V: list, T: np.ndarray, start: int, m: int):
    """Grow the orthonormal basis V (start + 1 vectors) to m + 1 vectors by Arnoldi steps
    with ``op`` (x -> A x), filling columns start..m-1 of the host matrix T (m + 1, m):
    ``A V[j] = sum_i T[i, j] V[i]``. Returns (V, T); V stays a list of mx arrays.

    A step that finds an invariant subspace (a zero new vector) leaves T[j + 1, j] = 0; the
    vectors after it are then meaningless, which callers see from that zero.
    """
    tiny = float(np.finfo(np.float32 if V[0].dtype == mx.float32 else np.float64).tiny)
    cols = []
    for j in range(start, m):
        w = op(V[j])
        Vm = mx.stack(V)
        h = Vm @ w
        w = w - h @ Vm
        h2 = Vm @ w
        w = w - h2 @ Vm
        hn = mx.linalg.norm(w)
        V.append(w / mx.maximum(hn, tiny))
        cols.append(mx.concatenate([h + h2, hn[None]]))
    mx.eval(cols, V)
    for j, col in zip(range(start, m), cols):
        T[: j + 2, j] = np.array(col.astype(mx.float32) if col.dtype != mx.float64 else col,
                                 dtype=np.float64)
    return V, T

