"""Block-sparse flash attention: softmax(scale q k^T + bias) v over only the attention layout's
blocks (docs/developer/flash_attention.md).

Two forms share one core: blksprs's, on compressed q, k, v with their layouts, and a dense one
on (B, L, d) or (B, H, L, d) arrays like ``mx.fast.scaled_dot_product_attention``. The core
here is written with MLX ops (the reference and the fallback on every backend): query block
rows are grouped by their number of key blocks rounded up to a power of two, and each group is
one gather of its key/value blocks and two batched matmuls, in float32. It builds the layout's
score blocks (never a seq x seq array) and differentiates to any order.
"""

from __future__ import annotations

import functools
import math

import mlx.core as mx
import numpy as np

from .. import _ext
from .._device import gpu_backend
from . import _common as c

_FUSED_BLOCKS = (16, 32, 64)
_FUSED_DTYPES = (mx.float32, mx.float16, mx.bfloat16)


def _key(layout: np.ndarray) -> tuple:
    """The layout as the tables' cache key, (bytes, shape, batch): a batch that repeats one
    layout (a broadcast view, as the dense form makes) is keyed by that one layout, so a
    call neither copies nor hashes the whole batch."""
    if layout.ndim == 3 and layout.shape[0] > 1 and layout.strides[0] == 0:
        return layout[:1].tobytes(), (1, *layout.shape[1:]), layout.shape[0]
    return np.ascontiguousarray(layout).tobytes(), layout.shape, layout.shape[0]


def _unkey(key: bytes, shape: tuple, batch: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(key, np.bool_).reshape(shape), (batch, *shape[1:]))


@functools.lru_cache(maxsize=64)
def _plan(key: bytes, shape: tuple, batch: int):
    """Groups of query block rows R = b * Mb + i with the same padded key-block count w:
    (w, rows, key block ids b * Nb + j (-1 pads), storage ids e (-1 pads)), and the order
    that puts the groups' rows back."""
    layout = _unkey(key, shape, batch)
    nb, mb, kb = layout.shape
    rows = layout.reshape(nb * mb, kb)
    counts = rows.sum(axis=1)
    storage = np.cumsum(rows.reshape(-1)).reshape(rows.shape) - 1
    width = np.where(counts > 0, 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), 0)
    width = np.minimum(width, kb)
    batch_of_row = np.arange(nb * mb) // mb
    groups, order = [], []
    for w in np.unique(width):
        members = np.flatnonzero(width == w)
        order.append(members)
        if w == 0:
            groups.append((0, members, None, None))
            continue
        # stable sort puts each row's key blocks first, in increasing j, then the padding
        pos = np.argsort(~rows[members], axis=1, kind="stable")[:, :w]
        keep = np.take_along_axis(rows[members], pos, axis=1)
        keys = np.where(keep, pos + batch_of_row[members, None] * kb, -1)
        ids = np.where(keep, np.take_along_axis(storage[members], pos, axis=1), -1)
        groups.append((int(w), members, keys.astype(np.int32), ids.astype(np.int32)))
    order = np.concatenate(order)
    inverse = None if np.array_equal(order, np.arange(order.size)) else np.argsort(order)
    return tuple(groups), None if inverse is None else inverse.astype(np.int32)


def _padded_take(blocks: mx.array, index: np.ndarray) -> mx.array:
    """blocks[index] along axis 0, with -1 giving a zero block."""
    pad = mx.concatenate([blocks, mx.zeros((1, *blocks.shape[1:]), blocks.dtype)], axis=0)
    return mx.take(pad, mx.array(np.where(index < 0, blocks.shape[0], index).astype(np.int32)),
                   axis=0)


def _side_by_side(tiles: mx.array, g: int, w: int, bs: int) -> mx.array:
    """(g * w, bs, bs) score-shaped tiles -> (g, bs, w * bs), key blocks side by side."""
    return tiles.reshape(g, w, bs, bs).transpose(0, 2, 1, 3).reshape(g, bs, w * bs)


@functools.lru_cache(maxsize=64)
def _block_csr(key: bytes, shape: tuple, batch: int):
    """The layout as the fused op's int32 block CSR (docs/developer/flash_attention.md):
    row_ptr, col over block rows b * Mb + i, and the transpose t_ptr, t_row, t_block over key
    block columns b * Nb + j."""
    layout = _unkey(key, shape, batch)
    nb, mb, kb = layout.shape
    b, i, j = np.nonzero(layout)  # row-major: the storage order
    row_ptr = np.concatenate([[0], np.cumsum(layout.reshape(nb * mb, kb).sum(axis=1))])
    order = np.lexsort((i, j, b))  # by (b, j, i)
    t_ptr = np.concatenate([[0], np.cumsum(np.bincount(b * kb + j, minlength=nb * kb))])
    return tuple(mx.array(x.astype(np.int32)) for x in (row_ptr, j, t_ptr, i[order], order))


def _fused_available(stream) -> bool:
    """Whether the fused primitive has kernels for this stream's device."""
    if stream.device.type == mx.cpu:
        return True
    return gpu_backend() in ("cuda", "metal")


def _why_not_fused(q, k, v, bs: int, bias, stream) -> str | None:
    """Why the fused op cannot take these operands, or None when it can."""
    if not _fused_available(stream):
        return f"this build has no fused kernels for {stream.device}"
    if bs not in _FUSED_BLOCKS:
        return f"the block size is {bs}, not one of {_FUSED_BLOCKS}"
    for name, n in (("d", q.shape[-1]), ("dv", v.shape[-1])):
        if n % 8 or not 8 <= n <= 256:
            return f"{name}={n} is not a multiple of 8 from 8 to 256"
    if q.dtype not in _FUSED_DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
        return (f"q, k and v are {q.dtype}, {k.dtype} and {v.dtype}, not one of float32, "
                f"float16 or bfloat16")
    # the bias goes to the kernels in q's dtype: only a cast that loses nothing
    if bias is not None and bias.dtype != q.dtype and q.dtype != mx.float32:
        return f"the bias is {bias.dtype} and q {q.dtype} (casting would lose precision)"
    return None


def attend(q, k, v, layout: np.ndarray, bs: int, scale: float, bias=None, masked=None,
           fused=None, return_lse=False):
    """The core on dense q (B, Lq, d), k (B, Lk, d), v (B, Lk, dv) and a (B, Lq/bs, Lk/bs)
    numpy layout. ``bias`` (float) and ``masked`` (bool, True = masked) are
    (n_blocks, bs, bs) in the layout's storage order. Returns (B, Lq, dv) in q's dtype, and
    with ``return_lse`` also the scores' log-sum-exp (B, Lq) in float32 (-inf for a row with
    nothing to attend to). ``fused``: None = the fused op when it takes these operands,
    True = it or an error, False = MLX ops."""
    if fused not in (None, True, False):
        c.fail("flash_attention", f"fused should be None, True or False but is {fused!r}.")
    if fused is None or fused:
        stream = mx.default_stream(mx.default_device())
        why = _why_not_fused(q, k, v, bs, bias, stream)
        if why is None:
            o, lse = _attend_fused(q, k, v, layout, bs, scale, bias, masked, stream)
            return (o, lse) if return_lse else o
        if fused:
            c.fail("flash_attention", f"fused=True, but {why}; pass fused=None or False.")
    o, lse = _attend_ops(q, k, v, layout, bs, scale, bias, masked)
    return (o, lse) if return_lse else o


def _attend_fused(q, k, v, layout: np.ndarray, bs: int, scale: float, bias, masked, stream):
    """(o, lse) from the fused primitive; its vjp is FlashAttentionGrad, whose own vjp (and
    the primitive's jvp) are MLX ops on the layout's blocks: any order of derivatives."""
    csr = _block_csr(*_key(layout))
    if bias is not None:
        bias = bias.astype(q.dtype)
    if masked is not None:
        masked = masked.astype(mx.uint8)
    return _ext.flash_attention(q, k, v, *csr, bs, scale, bias, masked, stream=stream)


def _attend_ops(q, k, v, layout: np.ndarray, bs: int, scale: float, bias=None, masked=None):
    """The core on MLX ops (every backend, any order of derivatives): (o, lse)."""
    nb, mb, kb = layout.shape
    d, dv = q.shape[-1], v.shape[-1]
    groups, inverse = _plan(*_key(layout))
    f32 = mx.float32
    qb = q.reshape(nb * mb, bs, d)
    kblocks = k.reshape(nb * kb, bs, d)
    vblocks = v.reshape(nb * kb, bs, dv)
    parts, lses = [], []
    for w, members, keys, ids in groups:
        g = members.size
        if w == 0:  # rows with no key block attend to nothing: 0
            parts.append(mx.zeros((g, bs, dv), f32))
            lses.append(mx.full((g, bs), -mx.inf, f32))
            continue
        qg = c.take_blocks(qb, members).astype(f32)
        kg = _padded_take(kblocks, keys.reshape(-1)).reshape(g, w * bs, d).astype(f32)
        vg = _padded_take(vblocks, keys.reshape(-1)).reshape(g, w * bs, dv).astype(f32)
        s = (qg @ kg.transpose(0, 2, 1)) * scale
        if bias is not None:
            s = s + _side_by_side(_padded_take(bias, ids.reshape(-1)), g, w, bs).astype(f32)
        keep = np.repeat(keys >= 0, bs, axis=1)[:, None, :]  # (g, 1, w * bs): padding
        keep = mx.array(keep)
        if masked is not None:
            keep = keep & ~_side_by_side(_padded_take(masked, ids.reshape(-1)), g, w, bs)
        s = mx.where(keep, s, -mx.inf)
        peak = mx.stop_gradient(s.max(axis=-1, keepdims=True))
        peak = mx.where(peak == -mx.inf, 0.0, peak)  # a row with nothing to attend to
        e = mx.exp(s - peak)
        total = e.sum(axis=-1, keepdims=True)
        parts.append((e @ vg) / mx.where(total > 0, total, 1.0))
        # peak's gradient is stopped: lse = peak + log(total) is the same for any peak
        lses.append(mx.where(total > 0, mx.log(mx.maximum(total, 1e-30)) + peak, -mx.inf)[..., 0])
    out = parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=0)
    lse = lses[0] if len(lses) == 1 else mx.concatenate(lses, axis=0)
    if inverse is not None:
        out = mx.take(out, mx.array(inverse), axis=0)
        lse = mx.take(lse, mx.array(inverse), axis=0)
    return out.reshape(nb, mb * bs, dv).astype(q.dtype), lse.reshape(nb, mb * bs)


def flash_attention(q, *args, **kwargs):
    """Block-sparse attention, ``softmax(scale * q @ k^T + bias) @ v`` over only the blocks an
    attention layout marks (absent blocks count as -inf); a query row with nothing to attend
    to gives 0. No (seq x seq) array is built.

    Two forms:

    - blksprs's, on compressed tensors::

        flash_attention(q, sparsity_layout_q, k, sparsity_layout_k, v, sparsity_layout_v,
                        attention_layout, sparsity_block_size, scale=None,
                        attention_mask=None, sparsity_layout_mask=None,
                        attention_bias=None, sparsity_layout_bias=None, lut=None,
                        sparsity_layout_o=None)

      q, k, v are compressed (n, bs, bs) with layouts (B, seq/bs, d/bs); attention_layout is
      (B, seq_q/bs, seq_k/bs). ``attention_mask`` (compressed, True/non-zero = **masked**, as
      in blksprs) and ``attention_bias`` (compressed, additive, differentiable) come with their
      layouts (absent blocks: not masked, bias 0). Returns o compressed at
      ``sparsity_layout_o`` (default: the structural product of attention_layout and
      sparsity_layout_v, as blksprs).

    - dense: ``flash_attention(q, k, v, attention_layout, *, scale=None, mask=None)`` on q
      (B, Lq, d), k (B, Lk, d), v (B, Lk, dv), or (B, H, L, d) as
      ``mx.fast.scaled_dot_product_attention``; ``return_lse=True`` also returns the scores'
      natural log-sum-exp, shaped like q without its last dimension, float32 (-inf for a
      row with nothing to attend to; differentiable, e.g. for combining attention parts). attention_layout is (Lq/bs, Lk/bs),
      (1 or B, ...) or, for 4-D inputs, (B*H or 1, ...) or (B, H, ...); the block size is
      Lq / its rows. ``mask`` is as in ``mx.fast.scaled_dot_product_attention``: bool
      (True = **attend**) or additive float (differentiable), broadcastable to the scores.
      Returns an array shaped like q with v's last dimension.

    ``scale`` defaults to 1/sqrt(d). Differentiable in q, k, v and the bias.

    ``fused`` (keyword, both forms): None (default) runs the fused primitive where it has
    kernels (the CPU; CUDA; Metal) and takes the operands (block size 16, 32 or 64; d and dv
    multiples of 8 up to 256; q, k, v of one dtype among float32, float16, bfloat16), else
    the MLX-op path; True requires the fused primitive (ValueError saying why not); False
    always takes the MLX-op path. Both paths differentiate to any order and work under
    ``mx.jvp`` and ``mx.vmap`` (the fused path maps over a leading axis by folding it into
    its batch); on the fused path only the first gradient is a fused kernel, higher orders
    and forward mode are MLX ops on the layout's blocks.
    """
    if len(args) == 3 and "sparsity_layout_q" not in kwargs:
        return _dense_form(q, *args, **kwargs)
    return _compressed_form(q, *args, **kwargs)


def _scale(scale, d: int, op: str) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d) if d else 1.0
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.number)):
        c.fail(op, f"scale should be a real number or None but {scale!r} was given.")
    return float(scale)


def _dense_form(q, k, v, attention_layout, *, scale=None, mask=None, fused=None,
                return_lse=False):
    op = "flash_attention"
    for name, x in (("q", q), ("k", k), ("v", v)):
        c.check_float(x, op, name)
        if x.ndim not in (3, 4):
            c.fail(op, f"{name} should be (B, L, d) or (B, H, L, d) but has shape {x.shape}.")
    if not (q.ndim == k.ndim == v.ndim) or q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] \
            or q.shape[-1] != k.shape[-1] or v.shape[:-2] != q.shape[:-2]:
        c.fail(op, f"q {q.shape}, k {k.shape} and v {v.shape} do not fit: want (..., Lq, d), "
                   f"(..., Lk, d) and (..., Lk, dv) with the same leading dimensions.")
    lead = q.shape[:-2]
    batch = math.prod(lead)
    lq, lk = q.shape[-2], k.shape[-2]
    layout = _dense_layout(attention_layout, lead, op)
    mb, kb = layout.shape[1:]
    if mb == 0 or kb == 0 or lq % mb or lk % kb or lq // mb != lk // kb:
        c.fail(op, f"attention_layout's blocks {layout.shape[1:]} should tile the scores "
                   f"({lq}, {lk}) with one square block size.")
    bs = lq // mb
    layout = np.broadcast_to(layout, (batch, mb, kb))  # a view: _key keys it by one layout
    flat = [x.reshape(batch, *x.shape[-2:]) for x in (q, k, v)]
    bias = masked = None
    if mask is not None:
        blocks = _mask_blocks(mask, q.shape[:-1] + (lk,), layout, bs, op)
        if blocks.dtype == mx.bool_:
            masked = ~blocks
        else:
            bias = blocks
    out = attend(*flat, layout, bs, _scale(scale, q.shape[-1], op), bias, masked, fused,
                 return_lse)
    if return_lse:
        return out[0].reshape(*lead, lq, v.shape[-1]), out[1].reshape(*lead, lq)
    return out.reshape(*lead, lq, v.shape[-1])


def _dense_layout(attention_layout, lead, op) -> np.ndarray:
    """The layout as (B or 1, Mb, Nb) over the flattened leading dimensions."""
    a = np.asarray(attention_layout if not isinstance(attention_layout, mx.array)
                   else np.array(attention_layout))
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == len(lead) + 2 and len(lead) == 2:
        a = np.broadcast_to(a, (*lead, *a.shape[-2:])).reshape(-1, *a.shape[-2:])
    if a.ndim != 3 or a.shape[0] not in (1, math.prod(lead)):
        c.fail(op, f"attention_layout should be (Lq/bs, Lk/bs), (1 or {math.prod(lead)}, ...)"
                   f" or the leading dimensions {tuple(lead)} then the blocks, but has shape "
                   f"{a.shape}.")
    return c.layout_np(a, op, "attention_layout")


def _mask_blocks(mask, scores_shape, layout: np.ndarray, bs: int, op: str) -> mx.array:
    """The mask's (n_blocks, bs, bs) blocks at the layout's blocks, in storage order. Only its
    own batch is copied (a mask shared by every head is not repeated)."""
    if not isinstance(mask, mx.array):
        mask = mx.array(mask)
    if mask.dtype != mx.bool_ and not mx.issubdtype(mask.dtype, mx.floating):
        c.fail(op, f"mask should be bool (True = attend) or an additive float array but is "
                   f"{mask.dtype}.")
    try:
        full = mx.broadcast_shapes(mask.shape, tuple(scores_shape))
    except ValueError:
        full = None
    if full != tuple(scores_shape):
        c.fail(op, f"mask of shape {mask.shape} does not broadcast to the scores "
                   f"{tuple(scores_shape)}.")
    lq, lk = scores_shape[-2:]
    mask = mask.reshape((1,) * (len(scores_shape) - mask.ndim) + mask.shape)
    own = math.prod(mask.shape[:-2])
    batch = math.prod(scores_shape[:-2])
    mask = mx.broadcast_to(mask, (*(mask.shape[:-2] if own == 1 else scores_shape[:-2]), lq, lk))
    nb, mb, kb = layout.shape
    tiles = (mask.reshape(-1, mb, bs, kb, bs).transpose(0, 1, 3, 2, 4).reshape(-1, bs, bs))
    where = c.lut(layout)  # (n, 3): batch, row, col
    b = where[:, 0] if own != 1 and batch != 1 else np.zeros(len(where), np.int32)
    return c.take_blocks(tiles, (b * mb + where[:, 1]) * kb + where[:, 2])


def _compressed_form(q, sparsity_layout_q, k, sparsity_layout_k, v, sparsity_layout_v,
                     attention_layout, sparsity_block_size, scale=None, attention_mask=None,
                     sparsity_layout_mask=None, attention_bias=None, sparsity_layout_bias=None,
                     lut=None, sparsity_layout_o=None, fused=None):
    from ._conversion import to_dense, to_sparse  # noqa: PLC0415 (module order)
    from .layouting import build_sparsity_layout_matmul  # noqa: PLC0415
    op = "flash_attention"
    bs = c.check_block_size(sparsity_block_size, op)
    lq_ = c.layout_np(sparsity_layout_q, op, "sparsity_layout_q")
    lk_ = c.layout_np(sparsity_layout_k, op, "sparsity_layout_k")
    lv_ = c.layout_np(sparsity_layout_v, op, "sparsity_layout_v")
    att = c.layout_np(attention_layout, op, "attention_layout")
    nb = lq_.shape[0]
    if lk_.shape[0] != nb or lk_.shape[2] != lq_.shape[2]:
        c.fail(op, f"sparsity_layout_k {lk_.shape} should match sparsity_layout_q {lq_.shape} "
                   f"in batch and head blocks.")
    if lv_.shape[:2] != lk_.shape[:2]:
        c.fail(op, f"sparsity_layout_v {lv_.shape} should match sparsity_layout_k {lk_.shape} "
                   f"in batch and sequence blocks.")
    c.check_layout_shape(att, (nb, lq_.shape[1], lk_.shape[1]), op, "attention_layout")
    if (attention_mask is None) != (sparsity_layout_mask is None):
        c.fail(op, "attention_mask and sparsity_layout_mask should be given together.")
    if (attention_bias is None) != (sparsity_layout_bias is None):
        c.fail(op, "attention_bias and sparsity_layout_bias should be given together.")
    qd = to_dense(q, lq_, bs)
    kd = to_dense(k, lk_, bs)
    vd = to_dense(v, lv_, bs)
    masked = bias = None
    if attention_mask is not None:
        lm = c.layout_np(sparsity_layout_mask, op, "sparsity_layout_mask")
        c.check_layout_shape(lm, att.shape, op, "sparsity_layout_mask")
        masked = _at_layout(attention_mask, lm, att, bs, op, "attention_mask") != 0
    if attention_bias is not None:
        lb = c.layout_np(sparsity_layout_bias, op, "sparsity_layout_bias")
        c.check_layout_shape(lb, att.shape, op, "sparsity_layout_bias")
        bias = _at_layout(attention_bias, lb, att, bs, op, "attention_bias")
    out = attend(qd, kd, vd, att, bs, _scale(scale, qd.shape[-1], op), bias, masked, fused)
    if sparsity_layout_o is None:
        lo = c.layout_np(build_sparsity_layout_matmul(att, lv_), op)
    else:
        lo = c.layout_np(sparsity_layout_o, op, "sparsity_layout_o")
        c.check_layout_shape(lo, (nb, att.shape[1], lv_.shape[2]), op, "sparsity_layout_o")
    return to_sparse(out, lo, bs)


def _at_layout(x, layout_x: np.ndarray, att: np.ndarray, bs: int, op: str, name: str):
    """A compressed tensor's blocks at the attention layout's blocks (absent ones 0)."""
    if not isinstance(x, mx.array) or x.shape != (int(layout_x.sum()), bs, bs):
        c.fail(op, f"{name} should be compressed (n_blocks={int(layout_x.sum())}, {bs}, {bs}) for "
                   f"its layout, but is {getattr(x, 'shape', type(x).__name__)}.")
    where = c.lut(att)
    return _padded_take(x, c.reverse_lut(layout_x)[where[:, 0], where[:, 1], where[:, 2]])


def flash_attention_build_lut(attention_layout, sparsity_layout_q=None, sparsity_layout_k=None,
                              sparsity_layout_v=None, n_seq_blocks_q=None, n_seq_blocks_k=None,
                              n_head_blocks=None, sparsity_layout_o=None, n_head_blocks_v=None,
                              lut=None):
    """blksprs's table builder: here it builds (and caches) the attention layout's plan ahead
    of the first call and returns it as a dict; ``flash_attention`` finds the cached plan
    itself, so passing the result as ``lut=`` is optional."""
    att = c.layout_np(attention_layout, "flash_attention_build_lut", "attention_layout")
    groups, inverse = _plan(*_key(att))
    return {"attention_layout": att, "groups": groups, "inverse": inverse}
