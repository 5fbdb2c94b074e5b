"""Sparsity layouts, as ``blksprs.layouting``, plus causal and sliding-window builders.

A layout is a bool array (B, M/bs, N/bs): True where a block is stored.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _common as c


def build_sparsity_layout(x, sparsity_block_size):
    """The layout of the blocks of a dense (B, M, N) tensor that hold any non-zero value."""
    op = "build_sparsity_layout"
    bs = c.check_block_size(sparsity_block_size, op)
    c.check_dense(x, bs, op)
    b, m, n = x.shape
    return mx.any(x.reshape(b, m // bs, bs, n // bs, bs) != 0, axis=(2, 4))


def build_sparsity_layout_adaption(x, sparsity_layout_from, sparsity_block_size_from,
                                   sparsity_block_size_to):
    """The layout, at block size ``sparsity_block_size_to``, of the blocks that hold a non-zero
    value of the compressed tensor ``x`` (layout ``sparsity_layout_from`` at
    ``sparsity_block_size_from``). Reads ``x``'s values (evaluates it)."""
    op = "build_sparsity_layout_adaption"
    bs_from, bs_to, lf, (b, m, n) = c.check_adaption(
        x, sparsity_layout_from, sparsity_block_size_from, sparsity_block_size_to, op)
    out = np.zeros((b, m // bs_to, n // bs_to), np.bool_)
    blk, r, q = np.nonzero(np.array(x != 0))
    lut = c.lut(lf)[blk]
    out[lut[:, 0], (lut[:, 1] * bs_from + r) // bs_to, (lut[:, 2] * bs_from + q) // bs_to] = True
    return mx.array(out)


def build_sparsity_layout_matmul(sparsity_layout_x, sparsity_layout_y):
    """The exact layout of ``x @ y``: block (i, j) is present where some k has x's (i, k) and
    y's (k, j)."""
    op = "build_sparsity_layout_matmul"
    lx = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    ly = c.layout_np(sparsity_layout_y, op, "sparsity_layout_y")
    _check_pair(lx, ly, op)
    return mx.matmul(mx.array(lx, dtype=mx.float32), mx.array(ly, dtype=mx.float32)) > 0


def build_sparsity_layout_matmul_fast(sparsity_layout_x, sparsity_layout_y):
    """A superset of the layout of ``x @ y``, as blksprs's: block (i, j) is present where x's
    block row i or y's block column j holds any block (logical or, so it may overestimate)."""
    op = "build_sparsity_layout_matmul_fast"
    lx = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    ly = c.layout_np(sparsity_layout_y, op, "sparsity_layout_y")
    _check_pair(lx, ly, op)
    return mx.array(lx.any(axis=-1, keepdims=True) | ly.any(axis=-2, keepdims=True))


def build_sparsity_layout_full(x, sparsity_block_size):
    """The layout with every block of the dense (B, M, N) tensor ``x`` present."""
    op = "build_sparsity_layout_full"
    bs = c.check_block_size(sparsity_block_size, op)
    c.check_dense(x, bs, op)
    return mx.ones((x.shape[0], x.shape[1] // bs, x.shape[2] // bs), dtype=mx.bool_)


def build_causal_layout(batch, n_blocks):
    """(batch, n_blocks, n_blocks): the lower triangle with its diagonal (block i sees j <= i)."""
    op = "build_causal_layout"
    batch = c.check_block_size(batch, op, "batch")
    n_blocks = c.check_block_size(n_blocks, op, "n_blocks")
    tri = np.tril(np.ones((n_blocks, n_blocks), np.bool_))
    return mx.array(np.broadcast_to(tri, (batch, n_blocks, n_blocks)).copy())


def build_sliding_window_layout(batch, n_blocks, window, global_blocks=0):
    """(batch, n_blocks, n_blocks): block (i, j) present where ``abs(i - j) <= window``, plus the
    first ``global_blocks`` block rows and block columns in full (global tokens)."""
    op = "build_sliding_window_layout"
    batch = c.check_block_size(batch, op, "batch")
    n_blocks = c.check_block_size(n_blocks, op, "n_blocks")
    if not isinstance(window, (int, np.integer)) or window < 0:
        c.fail(op, f"window should be an int >= 0 but {window!r} was given.")
    if not isinstance(global_blocks, (int, np.integer)) or not 0 <= global_blocks <= n_blocks:
        c.fail(op, f"global_blocks should be an int in [0, {n_blocks}] but {global_blocks!r} was given.")
    i = np.arange(n_blocks)
    band = np.abs(i[:, None] - i[None, :]) <= window
    band[:global_blocks, :] = True
    band[:, :global_blocks] = True
    return mx.array(np.broadcast_to(band, (batch, n_blocks, n_blocks)).copy())


def _check_pair(lx, ly, op):
    if lx.shape[0] != ly.shape[0] or lx.shape[2] != ly.shape[1]:
        c.fail(op, f"layouts of x {lx.shape} and y {ly.shape} do not chain: want (B, m, k) and "
                   f"(B, k, n).")
