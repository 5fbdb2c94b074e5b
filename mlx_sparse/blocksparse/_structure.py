"""repeat, repeat_interleave, split and merge: block reorderings. The layout's table of storage
indices is transformed like the dense tensor would be (numpy reshapes on the host), and the
output is one gather of the input's blocks in the new row-major order; its gradient is the
scatter back."""

from __future__ import annotations

import numpy as np

from . import _common as c


def _reorder(x, layout, transform, target, op):
    """Blocks of x placed by ``transform`` (a function of a layout-shaped array), kept only
    where ``target`` (if given) is True. Returns (x_out, layout_out) as host layout."""
    src = transform(c.reverse_lut(layout))
    if target is not None:
        t = c.layout_np(target, op, "sparsity_layout_output")
        c.check_layout_shape(t, src.shape, op, "sparsity_layout_output")
        src = np.where(t, src, -1)
    out_layout = src >= 0
    return c.take_blocks(x, src[out_layout]), out_layout


def repeat(x, sparsity_layout_x, repeats, sparsity_block_size, sparsity_layout_output=None, lut=None):
    """Tiles a compressed (B, M, N) tensor ``repeats = (rb, rm, rn)`` times along batch, rows
    and columns (``np.tile``), as ``blksprs.ops.repeat``; with ``sparsity_layout_output`` only
    the tiled blocks also in that layout are kept. Returns ``(x_out, layout_out)``."""
    op = "repeat"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    c.check_compressed(x, layout, bs, op)
    if (not isinstance(repeats, (tuple, list)) or len(repeats) != 3
            or any(not isinstance(r, (int, np.integer)) or r < 0 for r in repeats)):
        c.fail(op, f"repeats should be three ints >= 0 but {repeats!r} was given.")
    out, lo = _reorder(x, layout, lambda a: np.tile(a, tuple(int(r) for r in repeats)),
                       sparsity_layout_output, op)
    return out, c.layout_out(lo, sparsity_layout_x)


def repeat_interleave(x, sparsity_layout_x, repeats, sparsity_block_size,
                      sparsity_layout_output=None, lut=None):
    """Repeats each matrix of the batch ``repeats`` times in place (``np.repeat`` on the batch
    axis), as ``blksprs.ops.repeat_interleave``. Returns ``(x_out, layout_out)``."""
    op = "repeat_interleave"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    c.check_compressed(x, layout, bs, op)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 0:
        c.fail(op, f"repeats should be an int >= 0 but {repeats!r} was given.")
    out, lo = _reorder(x, layout, lambda a: np.repeat(a, int(repeats), axis=0),
                       sparsity_layout_output, op)
    return out, c.layout_out(lo, sparsity_layout_x)


def _check_dim(dim, op):
    if dim not in (-1, 2):
        c.fail(op, f"only the last dimension (dim=-1) is supported, as in blksprs, but dim={dim!r}.")


def split(x, sparsity_layout, partitions, dim, sparsity_block_size, lut=None):
    """Cuts the last dimension into ``partitions`` equal parts stacked along the batch
    (B, M, N) -> (B * partitions, M, N / partitions), batch-major, as ``blksprs.ops.split``.
    Returns ``(x_out, layout_out)``."""
    op = "split"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    _check_dim(dim, op)
    b, m, n = layout.shape
    if not isinstance(partitions, (int, np.integer)) or partitions < 1 or n % partitions:
        c.fail(op, f"partitions should be an int >= 1 dividing the {n} block columns but "
                   f"{partitions!r} was given.")
    p = int(partitions)
    out, lo = _reorder(x, layout, lambda a: a.reshape(b, m, p, n // p).transpose(0, 2, 1, 3)
                       .reshape(b * p, m, n // p), None, op)
    return out, c.layout_out(lo, sparsity_layout)


def merge(x, sparsity_layout, partitions, dim, sparsity_block_size, lut=None):
    """The inverse of :func:`split`: (B * partitions, M, N) -> (B, M, N * partitions), as
    ``blksprs.ops.merge``. Returns ``(x_out, layout_out)``."""
    op = "merge"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    _check_dim(dim, op)
    bp, m, n = layout.shape
    if not isinstance(partitions, (int, np.integer)) or partitions < 1 or bp % partitions:
        c.fail(op, f"partitions should be an int >= 1 dividing the batch of {bp} but "
                   f"{partitions!r} was given.")
    p = int(partitions)
    out, lo = _reorder(x, layout, lambda a: a.reshape(bp // p, p, m, n).transpose(0, 2, 1, 3)
                       .reshape(bp // p, m, p * n), None, op)
    return out, c.layout_out(lo, sparsity_layout)
