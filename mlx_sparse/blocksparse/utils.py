"""Shape helpers, as ``blksprs.utils``: the ops take 3-D (batch, rows, cols) tensors."""

from __future__ import annotations

import mlx.core as mx


def do_shape_blocksparse(x: mx.array):
    """(..., M, N) -> ((prod(...), M, N), original shape)."""
    if x.ndim < 2:
        raise ValueError(f"[blocksparse.do_shape_blocksparse] x should have at least 2 "
                         f"dimensions but has shape {tuple(x.shape)}.")
    if x.ndim == 3:
        return x, tuple(x.shape)
    return x.reshape(-1, x.shape[-2], x.shape[-1]), tuple(x.shape)


def undo_shape_blocksparse(x: mx.array, shape):
    """Back to ``shape``'s leading dimensions: (B, M, N) -> (*shape[:-2], M, N)."""
    if x.shape[:-2] == tuple(shape[:-2]):
        return x
    return x.reshape(*shape[:-2], x.shape[-2], x.shape[-1])
