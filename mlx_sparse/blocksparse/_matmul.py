"""Block-sparse matmul on MLX ops: only the output layout's blocks are computed.

Plan (host, once per triple of layouts): for each output block (b, i, j) the list of k with
x's (b, i, k) and y's (b, k, j) both stored. Output blocks are grouped by that count rounded
up to a power of two (padding with a zero block: at most 2x work, at most log2(K/bs) + 2
groups); each group is one gather of x's and y's blocks laid side by side along k, so a
single batched ``mx.matmul`` sums over k (MLX accumulates float16/bfloat16 products in
float32).

Where the block kernels run (``mlx_sparse._ops.bsr_kernels``: the CPU, CUDA and Metal) two
forms take them instead, with the batch of layouts as one block CSR matrix of B * M/bs block
rows (block columns offset by b * K/bs): a dense y (full layout) gives ``bsr_spmm`` of x's
blocks (sparse x dense, of which the output layout's blocks are kept), and dense x and y with
a sparse output give ``bsr_sddmm`` at the output layout.
"""

from __future__ import annotations

import functools

import mlx.core as mx
import numpy as np

from .. import _ext
from .._bsr import transpose_structure
from .._ops import bsr_kernels
from . import _common as c


@functools.lru_cache(maxsize=64)
def _plan(kx: bytes, sx: tuple, ky: bytes, sy: tuple, ko: bytes, so: tuple):
    lx = np.frombuffer(kx, np.bool_).reshape(sx)
    ly = np.frombuffer(ky, np.bool_).reshape(sy)
    lo = np.frombuffer(ko, np.bool_).reshape(so)
    nx, ny = int(lx.sum()), int(ly.sum())
    out = c.lut(lo)
    ix = c.reverse_lut(lx)[out[:, 0], out[:, 1], :]          # (n_out, Kb)
    iy = c.reverse_lut(ly)[out[:, 0], :, out[:, 2]]          # (n_out, Kb)
    both = (ix >= 0) & (iy >= 0)
    counts = both.sum(axis=1)
    width = np.where(counts > 0, 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), 0)
    width = np.minimum(width, lx.shape[2])
    groups, order = [], []
    for w in np.unique(width):
        rows = np.flatnonzero(width == w)
        order.append(rows)
        if w == 0:
            groups.append((0, rows.size, None, None))
            continue
        # stable sort puts each row's valid k first, in increasing k, then the padding
        pos = np.argsort(~both[rows], axis=1, kind="stable")[:, :w]
        keep = np.take_along_axis(both[rows], pos, axis=1)
        gx = np.where(keep, np.take_along_axis(ix[rows], pos, axis=1), nx)
        gy = np.where(keep, np.take_along_axis(iy[rows], pos, axis=1), ny)
        groups.append((int(w), rows.size, gx.reshape(-1).astype(np.int32),
                       gy.reshape(-1).astype(np.int32)))
    order = np.concatenate(order) if order else np.zeros(0, np.int64)
    inverse = None if np.array_equal(order, np.arange(order.size)) else np.argsort(order).astype(np.int32)
    return tuple(groups), inverse, int(out.shape[0])


@functools.lru_cache(maxsize=64)
def _block_csr(key: bytes, shape: tuple):
    """A (B, R, C) layout as one block CSR pattern (indptr, indices) of B * R block rows;
    the block columns of batch entry b are offset by b * C. Blocks keep the compressed
    (batch, row, column) order. Third, its transpose (csr_transpose's [indptr_t, indices_t,
    perm]), found once per layout for the kernels' gradients."""
    lay = np.frombuffer(key, np.bool_).reshape(shape)
    b, _, j = np.nonzero(lay)
    idt = np.int64 if lay.size >= 2**31 else np.int32
    indptr = np.zeros(shape[0] * shape[1] + 1, idt)
    np.cumsum(lay.reshape(-1, shape[2]).sum(axis=1), out=indptr[1:])
    indices = (j + b * shape[2]).astype(idt)
    transposed = [mx.array(a) for a in transpose_structure(indptr, indices, shape[0] * shape[2])]
    out = mx.array(indptr), mx.array(indices), transposed
    mx.eval(out)
    return out


def _dense_of(x, layout_shape, bs):
    """The full compressed tensor x (B * R * C, bs, bs) as the stacked dense (B * R * bs, C * bs)."""
    B, R, C = layout_shape
    return x.reshape(B, R, C, bs, bs).transpose(0, 1, 3, 2, 4).reshape(B * R * bs, C * bs)


def _kernel_product(x, lx, y, ly, lo, bs):
    """The block-kernel forms (module docstring), or None where neither applies."""
    B, Mb, Kb = lx.shape
    Nb = ly.shape[2]
    if lx.all() and not lo.all():  # dense x dense -> sparse: sampled at the output layout
        indptr, indices, t = _block_csr(lo.tobytes(), lo.shape)
        yt = y.reshape(B, Kb, Nb, bs, bs).transpose(0, 2, 4, 1, 3).reshape(B * Nb * bs, Kb * bs)
        return _ext.bsr_sddmm(indptr, indices, _dense_of(x, lx.shape, bs), yt, bs, bs, t)
    # sparse (or dense) x dense: the dense output, then the output layout's blocks
    indptr, indices, t = _block_csr(lx.tobytes(), lx.shape)
    out = _ext.bsr_spmm(indptr, indices, x, _dense_of(y, ly.shape, bs), t)
    out = out.reshape(B, Mb, bs, Nb, bs).transpose(0, 1, 3, 2, 4).reshape(B * Mb * Nb, bs, bs)
    return out if lo.all() else mx.take(out, mx.array(np.flatnonzero(lo).astype(np.int32)), axis=0)


def matmul(x, sparsity_layout_x, y, sparsity_layout_y, sparsity_layout_output,
           sparsity_block_size, lut=None):
    """``x @ y`` for compressed x (B, M, K) and y (B, K, N), computing only the blocks of
    ``sparsity_layout_output``, as ``blksprs.ops.matmul``: output block (b, i, j) is
    ``sum_k x[b, i, k] @ y[b, k, j]`` over the k where both blocks are stored (0 where none).
    A full layout makes an operand or the output dense in all but storage order.

    Runs on MLX ops (gathers and one batched ``mx.matmul`` per group of output blocks), on
    every backend, or where the block kernels run (the CPU, CUDA, Metal) with a dense y through
    them (module docstring); differentiates in x and y. ``lut`` is accepted and ignored.
    """
    op = "matmul"
    bs = c.check_block_size(sparsity_block_size, op)
    lx = c.layout_np(sparsity_layout_x, op, "sparsity_layout_x")
    ly = c.layout_np(sparsity_layout_y, op, "sparsity_layout_y")
    lo = c.layout_np(sparsity_layout_output, op, "sparsity_layout_output")
    c.check_compressed(x, lx, bs, op, "x")
    c.check_compressed(y, ly, bs, op, "y")
    if lx.shape[0] != ly.shape[0] or lx.shape[2] != ly.shape[1]:
        c.fail(op, f"the layouts of x {lx.shape} and y {ly.shape} do not chain: want (B, m, k) "
                   f"and (B, k, n) in blocks.")
    c.check_layout_shape(lo, (lx.shape[0], lx.shape[1], ly.shape[2]), op, "sparsity_layout_output")
    if ly.all() and bsr_kernels():
        return _kernel_product(x, lx, y, ly, lo, bs)
    groups, inverse, n_out = _plan(lx.tobytes(), lx.shape, ly.tobytes(), ly.shape,
                                   lo.tobytes(), lo.shape)
    dtype = (mx.zeros((), x.dtype) + mx.zeros((), y.dtype)).dtype
    if n_out == 0:
        return mx.zeros((0, bs, bs), dtype=dtype)
    xp = mx.concatenate([x, mx.zeros((1, bs, bs), dtype=x.dtype)], axis=0)
    yp = mx.concatenate([y, mx.zeros((1, bs, bs), dtype=y.dtype)], axis=0)
    parts = []
    for w, g, gx, gy in groups:
        if w == 0:
            parts.append(mx.zeros((g, bs, bs), dtype=dtype))
            continue
        a = mx.take(xp, mx.array(gx), axis=0).reshape(g, w, bs, bs)
        a = a.transpose(0, 2, 1, 3).reshape(g, bs, w * bs)      # x's blocks side by side
        b = mx.take(yp, mx.array(gy), axis=0).reshape(g, w * bs, bs)  # y's blocks stacked
        parts.append(mx.matmul(a, b).astype(dtype))
    out = parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=0)
    return out if inverse is None else mx.take(out, mx.array(inverse), axis=0)
