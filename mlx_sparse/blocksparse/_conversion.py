"""to_sparse, to_dense and adapt_layout: fixed gathers computed once per layout on the host."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _common as c


def _blocks_of(x: mx.array, bs: int) -> mx.array:
    """(B, M, N) -> (B * M/bs * N/bs, bs, bs), blocks in row-major order."""
    b, m, n = x.shape
    return (x.reshape(b, m // bs, bs, n // bs, bs).transpose(0, 1, 3, 2, 4)
            .reshape(b * (m // bs) * (n // bs), bs, bs))


def to_sparse(x, sparsity_layout, sparsity_block_size, lut=None):
    """Converts a dense (B, M, N) tensor to compressed form: the (n, bs, bs) blocks of the
    layout's non-zero entries in row-major (batch, row, column) order, as ``blksprs.ops.to_sparse``.

    A gather; its gradient is the scatter back (``to_dense`` with zeros). ``lut`` is accepted
    for blksprs compatibility and ignored (tables are cached per layout).
    """
    op = "to_sparse"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_dense(x, bs, op)
    c.check_layout_shape(layout, (x.shape[0], x.shape[1] // bs, x.shape[2] // bs), op)
    flat = np.flatnonzero(layout.reshape(-1))
    if flat.size == layout.size:
        return _blocks_of(x, bs)
    return c.take_blocks(_blocks_of(x, bs), flat)


def to_dense(x, sparsity_layout, sparsity_block_size, fill_value=0, lut=None):
    """Converts a compressed (n, bs, bs) tensor to its dense (B, M, N) form; positions of
    absent blocks hold ``fill_value`` (``-inf`` for a masked softmax, say), as
    ``blksprs.ops.to_dense``. Differentiable in ``x``.
    """
    op = "to_dense"
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    nb, mb, kb = layout.shape
    n = x.shape[0]
    if n == layout.size:
        blocks = x
    else:
        reverse = c.reverse_lut(layout).reshape(-1).copy()
        reverse[reverse < 0] = n  # the fill block, appended below
        fill = mx.full((1, bs, bs), fill_value, dtype=x.dtype)
        blocks = c.take_blocks(mx.concatenate([x, fill], axis=0), reverse)
    return (blocks.reshape(nb, mb, kb, bs, bs).transpose(0, 1, 3, 2, 4)
            .reshape(nb, mb * bs, kb * bs))


def adapt_layout(x, sparsity_layout_from, sparsity_block_size_from, sparsity_block_size_to,
                 sparsity_layout_to=None):
    """Re-blocks a compressed tensor to another block size and/or layout, as
    ``blksprs.ops.adapt_layout``: returns ``(x_to, sparsity_layout_to)``.

    Without ``sparsity_layout_to`` the new layout covers every non-zero value of ``x``
    (:func:`~mlx_sparse.blocksparse.layouting.build_sparsity_layout_adaption`). Values under
    blocks of the new layout that ``x`` does not hold are 0; values ``x`` holds outside the new
    layout are dropped. One element-level gather (indices built on the host); differentiable.
    """
    op = "adapt_layout"
    bs_from, bs_to, lf, (b, m, n) = c.check_adaption(
        x, sparsity_layout_from, sparsity_block_size_from, sparsity_block_size_to, op)
    if sparsity_layout_to is None:
        from .layouting import build_sparsity_layout_adaption
        sparsity_layout_to = build_sparsity_layout_adaption(x, lf, bs_from, bs_to)
    lt = c.layout_np(sparsity_layout_to, op, "sparsity_layout_to")
    c.check_layout_shape(lt, (b, m // bs_to, n // bs_to), op, "sparsity_layout_to")
    if bs_from == bs_to and np.array_equal(lf, lt):
        return x, c.layout_out(lt, sparsity_layout_to)
    # element (row r, col q) of every output block -> its flat position in x, or the 0 slot
    lut_to = c.lut(lt)
    r = np.arange(bs_to)
    rows = lut_to[:, 1, None, None] * bs_to + r[None, :, None]          # (n_to, bs_to, 1)
    cols = lut_to[:, 2, None, None] * bs_to + r[None, None, :]          # (n_to, 1, bs_to)
    src = c.reverse_lut(lf)[lut_to[:, 0, None, None], rows // bs_from, cols // bs_from]
    flat = (src.astype(np.int64) * bs_from + rows % bs_from) * bs_from + cols % bs_from
    zero_slot = lf.sum() * bs_from * bs_from
    flat = np.where(src >= 0, flat, zero_slot)
    values = mx.concatenate([x.reshape(-1), mx.zeros((1,), dtype=x.dtype)])
    out = mx.take(values, mx.array(flat.reshape(-1).astype(np.int32))).reshape(
        lut_to.shape[0], bs_to, bs_to)
    return out, c.layout_out(lt, sparsity_layout_to)


to_blksprs = to_sparse
from_blksprs = to_dense
