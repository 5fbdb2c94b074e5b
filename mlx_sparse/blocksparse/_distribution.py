"""gather, scatter and scatter_reduce of compressed block-sparse tensors along a dimension, as
blksprs's: the integer index tensor is read on the host (its values decide which elements
move), and the move is one element-level gather (or scatter-add) in MLX, differentiable in
the values."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _common as c


def _coords(layout, bs):
    """Global (batch, row, col) of every element of the compressed form, each (n, bs, bs)."""
    lut = c.lut(layout)
    r = np.arange(bs)
    b = np.broadcast_to(lut[:, 0, None, None], (lut.shape[0], bs, bs))
    rows = np.broadcast_to(lut[:, 1, None, None] * bs + r[None, :, None], b.shape)
    cols = np.broadcast_to(lut[:, 2, None, None] * bs + r[None, None, :], b.shape)
    return b, rows, cols


def _targets(idx, layout_idx, layout_to, dim, bs, op):
    """Flat positions in the compressed form of ``layout_to`` that each element of the
    idx-shaped tensor addresses along ``dim``, and a mask of those whose block is stored."""
    if not isinstance(idx, mx.array) or not mx.issubdtype(idx.dtype, mx.integer):
        c.fail(op, "idx should be an integer mx.array.")
    n = int(layout_idx.sum())
    if tuple(idx.shape) != (n, bs, bs):
        c.fail(op, f"idx should be compressed with shape ({n}, {bs}, {bs}) but has shape "
                   f"{tuple(idx.shape)}.")
    if dim not in (0, 1, 2, -1, -2, -3):
        c.fail(op, f"dim should be one of 0, 1, 2 (or -3, -2, -1) but {dim!r} was given.")
    dim = dim % 3
    coords = list(_coords(layout_idx, bs))
    v = np.array(idx).astype(np.int64)
    extent = layout_to.shape[0] if dim == 0 else layout_to.shape[dim] * bs
    if v.size and (v.min() < 0 or v.max() >= extent):
        c.fail(op, f"idx values should lie in [0, {extent}) along dim {dim} but range over "
                   f"[{v.min()}, {v.max()}].")
    coords[dim] = v
    b, rows, cols = coords
    if b.size and (b.max() >= layout_to.shape[0] or rows.max() >= layout_to.shape[1] * bs
                   or cols.max() >= layout_to.shape[2] * bs):
        c.fail(op, f"the layouts {layout_idx.shape} and {layout_to.shape} do not match outside dim {dim}.")
    block = c.reverse_lut(layout_to)[b, rows // bs, cols // bs].astype(np.int64)
    flat = (block * bs + rows % bs) * bs + cols % bs
    return flat.reshape(-1), (block >= 0).reshape(-1)


def gather(src, sparsity_layout_src, dim, idx, sparsity_layout_idx, sparsity_block_size, lut=None):
    """``torch.gather`` of a compressed tensor along ``dim``, as ``blksprs.ops.gather``: the
    output has ``idx``'s layout, and element (b, r, c) is ``src`` at (b, r, c) with coordinate
    ``dim`` replaced by ``idx[b, r, c]``; 0 where that block of ``src`` is not stored."""
    op = "gather"
    bs = c.check_block_size(sparsity_block_size, op)
    ls = c.layout_np(sparsity_layout_src, op, "sparsity_layout_src")
    li = c.layout_np(sparsity_layout_idx, op, "sparsity_layout_idx")
    c.check_compressed(src, ls, bs, op, "src")
    flat, stored = _targets(idx, li, ls, dim, bs, op)
    flat = np.where(stored, flat, src.size)  # the 0 slot
    values = mx.concatenate([src.reshape(-1), mx.zeros((1,), dtype=src.dtype)])
    out = mx.take(values, mx.array(flat.astype(np.int32))) if flat.size else mx.zeros((0,), src.dtype)
    return out.reshape(int(li.sum()), bs, bs)


def scatter_reduce(src, sparsity_layout_src, dim, idx, sparsity_layout_tgt, sparsity_block_size,
                   reduce_op="sum", lut=None):
    """The inverse of :func:`gather`, as ``blksprs.ops.scatter_reduce``: each element of
    ``src`` (with ``idx`` in ``src``'s layout) goes to its coordinates with ``dim`` replaced by
    ``idx``, in the compressed form of ``sparsity_layout_tgt`` (dropped where that block is not
    stored). ``reduce_op="sum"`` adds colliding elements; ``"none"`` keeps one of them."""
    op = "scatter" if reduce_op == "none" else "scatter_reduce"
    if reduce_op not in ("sum", "none"):
        c.fail(op, f"reduce_op should be 'sum' or 'none' but {reduce_op!r} was given.")
    bs = c.check_block_size(sparsity_block_size, op)
    ls = c.layout_np(sparsity_layout_src, op, "sparsity_layout_src")
    lt = c.layout_np(sparsity_layout_tgt, op, "sparsity_layout_tgt")
    c.check_compressed(src, ls, bs, op, "src")
    flat, stored = _targets(idx, ls, lt, dim, bs, op)
    size = int(lt.sum()) * bs * bs
    flat = mx.array(np.where(stored, flat, size).astype(np.int32))  # one extra slot, dropped
    out = mx.zeros((size + 1,), dtype=src.dtype)
    if flat.size:
        if reduce_op == "sum":
            out = out.at[flat].add(src.reshape(-1))
        else:
            out[flat] = src.reshape(-1)
    return out[:size].reshape(-1, bs, bs)


def scatter(src, sparsity_layout_src, dim, idx, sparsity_layout_tgt, sparsity_block_size, lut=None):
    """:func:`scatter_reduce` with ``reduce_op="none"``."""
    return scatter_reduce(src, sparsity_layout_src, dim, idx, sparsity_layout_tgt,
                          sparsity_block_size, reduce_op="none")
