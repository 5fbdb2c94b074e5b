"""Row-wise reductions and broadcasts, as ``blksprs.ops.misc``.

A row-wise result has one block per non-empty block row: its layout is the input layout
reduced over the block columns, (B, M/bs, 1), and its compressed form is (n_rows, bs, bs) with
the value in column 0 (or (n_rows, bs, 1) with ``flag_slice_only``). Reductions are
segment reductions (scatter) over the blocks of each row, in float32; absent blocks are
not part of the row. Unlike blksprs's, these differentiate with ``mx.grad`` (MLX's
scatter-add and scatter-max have gradients).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from . import _common as c


def _row_wise(x, sparsity_layout, sparsity_block_size, flag_slice_only, op, reduce):
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout, op)
    c.check_compressed(x, layout, bs, op)
    row_id, rows = c.block_rows(layout)
    n_rows = int(rows.sum())
    if n_rows == 0:
        return mx.zeros((0, bs, 1 if flag_slice_only else bs), dtype=x.dtype), c.layout_out(
            rows, sparsity_layout)
    row_id = mx.array(row_id.astype(np.int32))
    xf = x.astype(mx.float32)
    if reduce == "sum":
        col = mx.zeros((n_rows, bs), dtype=mx.float32).at[row_id].add(xf.sum(axis=2))
        rest = 0.0
    else:
        col = mx.full((n_rows, bs), -mx.inf, dtype=mx.float32).at[row_id].maximum(xf.max(axis=2))
        rest = -mx.inf  # blksprs's row_wise_max leaves the other columns at -inf
    col = col.astype(x.dtype)[:, :, None]
    if not flag_slice_only and bs > 1:
        col = mx.concatenate([col, mx.full((n_rows, bs, bs - 1), rest, dtype=x.dtype)], axis=2)
    return col, c.layout_out(rows, sparsity_layout)


def row_wise_sum(x, sparsity_layout, sparsity_block_size, flag_slice_only=False):
    """The sum of each row over its stored blocks: returns ``(sums, sparsity_layout_output)``,
    sums compressed (n_rows, bs, bs) with each row's sum in column 0 and zeros elsewhere,
    or (n_rows, bs, 1) with ``flag_slice_only``; the layout is (B, M/bs, 1)."""
    return _row_wise(x, sparsity_layout, sparsity_block_size, flag_slice_only, "row_wise_sum", "sum")


def row_wise_max(x, sparsity_layout, sparsity_block_size, flag_slice_only=False):
    """The maximum of each row over its stored blocks: returns ``(maxima,
    sparsity_layout_output)``, maxima compressed (n_rows, bs, bs) with the maximum in column
    0 and -inf elsewhere (as blksprs), or (n_rows, bs, 1) with ``flag_slice_only``."""
    return _row_wise(x, sparsity_layout, sparsity_block_size, flag_slice_only, "row_wise_max", "max")


def row_wise_add(x, sparsity_layout_x, y, sparsity_block_size):
    """Adds to every stored value of row r of ``x`` the value ``y`` holds for row r: ``y`` is
    compressed in the row-wise layout (n_rows, bs, bs) or (n_rows, bs, 1), as
    :func:`row_wise_sum` returns; its column 0 is used."""
    return _row_wise_add(x, sparsity_layout_x, y, sparsity_block_size, "row_wise_add", 1)


def row_wise_sub(x, sparsity_layout_x, y, sparsity_block_size):
    """:func:`row_wise_add` with ``-y``."""
    return _row_wise_add(x, sparsity_layout_x, y, sparsity_block_size, "row_wise_sub", -1)


def _row_wise_add(x, sparsity_layout_x, y, sparsity_block_size, op, sign):
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    c.check_compressed(x, layout, bs, op)
    row_id, rows = c.block_rows(layout)
    c.check_float(y, op, "y")
    n_rows = int(rows.sum())
    if y.ndim != 3 or y.shape[0] != n_rows or y.shape[1] != bs or y.shape[2] < 1:
        c.fail(op, f"y should be compressed in x's row-wise layout, shape ({n_rows}, {bs}, {bs}) "
                   f"or ({n_rows}, {bs}, 1), but has shape {tuple(y.shape)}.")
    if x.shape[0] == 0:
        return x
    col = c.take_blocks(y[:, :, :1], row_id)
    return (x + col) if sign > 0 else (x - col)


def broadcast_add(x, y, sparsity_layout_output, sparsity_block_size):
    """``o[b, i, j] = x[b, i] + y[b, j]`` for dense (B, M) ``x`` and (B, N) ``y``, computed
    only at the blocks of ``sparsity_layout_output`` (B, M/bs, N/bs) and returned compressed,
    as ``blksprs.ops.misc.broadcast_add`` (which takes M == N)."""
    return _broadcast(x, y, sparsity_layout_output, sparsity_block_size, "broadcast_add", 1)


def broadcast_sub(x, y, sparsity_layout_output, sparsity_block_size):
    """``o[b, i, j] = x[b, i] - y[b, j]`` at the blocks of the layout (see :func:`broadcast_add`)."""
    return _broadcast(x, y, sparsity_layout_output, sparsity_block_size, "broadcast_sub", -1)


def _broadcast(x, y, sparsity_layout_output, sparsity_block_size, op, sign):
    bs = c.check_block_size(sparsity_block_size, op)
    layout = c.layout_np(sparsity_layout_output, op, "sparsity_layout_output")
    c.check_float(x, op, "x")
    c.check_float(y, op, "y")
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        c.fail(op, f"x and y should be 2-D (batch, n) with one batch but have shapes "
                   f"{tuple(x.shape)} and {tuple(y.shape)}.")
    if x.shape[1] % bs or y.shape[1] % bs:
        c.fail(op, f"block size {bs} should divide the lengths of x {tuple(x.shape)} and "
                   f"y {tuple(y.shape)}.")
    want = (x.shape[0], x.shape[1] // bs, y.shape[1] // bs)
    c.check_layout_shape(layout, want, op, "sparsity_layout_output")
    lut = c.lut(layout)
    xb = c.take_blocks(x.reshape(-1, bs), lut[:, 0] * want[1] + lut[:, 1])
    yb = c.take_blocks(y.reshape(-1, bs), lut[:, 0] * want[2] + lut[:, 2])
    yb = yb if sign > 0 else -yb
    return xb[:, :, None] + yb[:, None, :]
