"""Transpose of a compressed block-sparse tensor: a gather of the blocks, each transposed."""

from __future__ import annotations

import mlx.core as mx

from . import _common as c


def transpose(x, sparsity_layout, sparsity_block_size, lut=None):
    """Transposes the last two dimensions of a compressed (B, M, N) tensor, as
    ``blksprs.ops.transpose``: returns ``(x_t, sparsity_layout_t)``, x_t compressed in the
    row-major order of ``sparsity_layout_t`` (the layout with its last two axes swapped)."""
    op = "transpose"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    lt = layout.transpose(0, 2, 1).copy()
    lut_t = c.lut(lt)
    src = c.reverse_lut(layout)[lut_t[:, 0], lut_t[:, 2], lut_t[:, 1]]
    out = c.take_blocks(x, src).swapaxes(1, 2) if src.size else x
    if isinstance(sparsity_layout, mx.array):
        return out, sparsity_layout.swapaxes(1, 2)
    return out, c.layout_out(lt)
