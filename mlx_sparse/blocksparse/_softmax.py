"""Row-wise softmax of a compressed block-sparse tensor, absent blocks counting as -inf.

Segment reductions over the blocks of each block row (scatter-max of the row maxima, then
scatter-add of the exponentials), in float32. Rows with no stored block produce nothing
(they have no storage). The fused (one kernel per row) form is a later step: ``flag_fused``
is accepted and both forms compute the same thing here.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _common as c


def softmax(x, sparsity_layout, sparsity_block_size, flag_fused=True, lut=None):
    """Softmax over each full row of the block-sparse matrix, as ``blksprs.ops.softmax``:
    the blocks not in the layout count as -inf (they get probability 0 and are not stored).
    Numerically stable (the row maximum is subtracted), computed in float32, returned in
    ``x``'s dtype; differentiable."""
    return _softmax(x, sparsity_layout, sparsity_block_size, "softmax")


def softmax_fused(x, sparsity_layout, sparsity_block_size, lut=None):
    """:func:`softmax` (blksprs's name for its one-kernel-per-row form)."""
    return _softmax(x, sparsity_layout, sparsity_block_size, "softmax_fused")


def softmax_regular(x, sparsity_layout, sparsity_block_size, lut=None):
    """:func:`softmax` (blksprs's name for its unfused form)."""
    return _softmax(x, sparsity_layout, sparsity_block_size, "softmax_regular")


def _softmax(x, sparsity_layout, sparsity_block_size, op):
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    if x.shape[0] == 0:
        return x
    row_id, rows = c.block_rows(layout)
    n_rows = int(rows.sum())
    row_id = mx.array(row_id.astype(np.int32))
    xf = x.astype(mx.float32)
    peak = mx.full((n_rows, bs), -mx.inf, dtype=mx.float32).at[row_id].maximum(xf.max(axis=2))
    peak = mx.stop_gradient(peak)  # softmax does not depend on the shift
    e = mx.exp(xf - peak[row_id][:, :, None])
    total = mx.zeros((n_rows, bs), dtype=mx.float32).at[row_id].add(e.sum(axis=2))
    return (e / total[row_id][:, :, None]).astype(x.dtype)
