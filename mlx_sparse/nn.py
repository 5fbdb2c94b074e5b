"""Sparse layers for ``mlx.nn``: SparseLinear, GCNConv, GATConv, BlockSparseLinear,
BlockSparseAttention and SparseConv2d.

They are ``mlx.nn.Module``s: their values are in ``trainable_parameters()``, they train with
``nn.value_and_grad`` and ``mlx.optimizers``, compile with ``mx.compile`` and save with
``save_weights`` / ``load_weights``. A sparse weight is a CSRArray attribute: its values
(``weight.data``) are the parameter; its pattern is structure, kept in the layer's state as
``pattern`` (frozen, never trained), so ``save_weights`` saves it and ``load_weights``
restores it with the values.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from . import _ext
from ._bsr import BSRArray
from ._construct import fromdense
from ._convolution import _check_batch, _convolve_dense, _convolve_sparse, _image_shape, output_shape
from ._csr import CSRArray
from ._graph import random as _random_pattern
from ._ops import matmul, softmax, spmm
from .blocksparse import flash_attention

__all__ = ["SparseLinear", "GCNConv", "GATConv", "BlockSparseLinear", "BlockSparseAttention",
           "SparseConv2d"]


class _Pattern(dict):
    """A sparse weight's pattern (indices, indptr, shape) in its layer's state, so that
    ``save_weights`` saves it and ``load_weights`` restores it with the values: values saved
    for one pattern are meaningless on another (a new layer's pattern is random).

    Its arrays are copies of the weight's: under ``mx.compile`` the state's arrays are
    inputs, the weight's structure a constant. What ``update``/``load_weights`` set is also
    kept in ``current``, which compile never swaps for tracers."""

    def __init__(self, W: CSRArray):
        current = dict(indices=mx.array(W.indices), indptr=mx.array(W.indptr),
                       shape=mx.array(W.shape, dtype=mx.int64))
        dict.__init__(self, current)
        self.current, self.changed = current, False

    def __setitem__(self, key, value):
        if key not in self.current or not isinstance(value, mx.array):
            raise ValueError(f"[SparseLinear] a pattern has indices, indptr and shape; got {key!r}")
        dict.__setitem__(self, key, value)
        self.current[key] = value
        self.changed = True


def _product(x, W):
    """x @ W for dense x (..., n) or a CSRArray x (features), W dense (n, k)."""
    return spmm(x, W) if isinstance(x, CSRArray) else x @ W


class SparseLinear(nn.Module):
    """``y = x @ W.T + b`` with W a sparse (out_features, in_features) CSRArray.

    The pattern is set at construction (uniformly random with the given ``density``, or
    by magnitude pruning in :meth:`from_dense`) or by ``load_weights``; only its values
    train. Values start uniform
    in +-1/sqrt(in_features * density), the scale of a dense layer with as many inputs.
    """

    def __init__(self, in_features: int, out_features: int, density: float = 0.1,
                 bias: bool = True, *, seed=None):
        super().__init__()
        if not 0.0 < density <= 1.0:
            raise ValueError(f"[SparseLinear] density must be in (0, 1], got {density}")
        pattern = _random_pattern(out_features, in_features, density, seed=seed)
        scale = 1.0 / math.sqrt(max(1.0, in_features * density))
        values = mx.random.uniform(-scale, scale, (pattern.nnz,))
        self._set_weight(pattern.with_data(values))
        if bias:
            self.bias = mx.zeros((out_features,))

    @classmethod
    def from_dense(cls, linear_or_weight, sparsity: float = 0.9) -> "SparseLinear":
        """Prune a dense ``nn.Linear`` (or a weight (out, in)) to its largest-magnitude values.

        Keeps ``round((1 - sparsity) * out * in)`` entries (ties broken by position) and the
        bias of an ``nn.Linear``.
        """
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"[SparseLinear] sparsity must be in [0, 1), got {sparsity}")
        is_linear = isinstance(linear_or_weight, nn.Linear)
        weight = linear_or_weight.weight if is_linear else mx.array(linear_or_weight)
        if weight.ndim != 2:
            raise ValueError(f"[SparseLinear] expected a 2-D weight, got shape {tuple(weight.shape)}")
        host = np.abs(np.asarray(weight.astype(mx.float32)))
        keep = int(round((1.0 - sparsity) * host.size))
        mask = np.zeros(host.size, dtype=bool)
        if keep:
            mask[np.argsort(-host.ravel(), kind="stable")[:keep]] = True
        pruned = mx.where(mx.array(mask.reshape(host.shape)), weight, 0)
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer._set_weight(fromdense(mx.stop_gradient(pruned)))
        if is_linear and "bias" in linear_or_weight:
            layer.bias = linear_or_weight.bias
        return layer

    def _set_weight(self, W: CSRArray):
        self.pattern = _Pattern(W)
        self.freeze(keys=["pattern"], recurse=False)
        self.weight = W

    def __getattr__(self, key):
        # self.weight always has the pattern of the state (load_weights may have set another)
        if key == "weight" and self["pattern"].changed:
            self._adopt_pattern()
        return super().__getattr__(key)

    def _adopt_pattern(self):
        """The weight on the pattern that update / load_weights set, checked in full."""
        pattern, W = self["pattern"], self["weight"]
        shape = tuple(int(v) for v in np.asarray(pattern.current["shape"]))
        if shape != W.shape:
            raise ValueError(f"[SparseLinear] the loaded pattern has shape {shape}, this layer {W.shape}")
        try:
            new = CSRArray(W.data, pattern.current["indices"], pattern.current["indptr"], shape)
            new.check_format(full_check=True)
        except (TypeError, ValueError) as e:
            raise ValueError(f"[SparseLinear] the loaded pattern does not fit its values: {e}") from None
        dict.__setitem__(self, "weight", new)
        pattern.changed = False

    def unfreeze(self, *args, **kwargs):
        """As ``nn.Module.unfreeze``; the pattern stays frozen (it is structure, not a parameter)."""
        super().unfreeze(*args, **kwargs)
        return self.freeze(keys=["pattern"], recurse=False)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def __call__(self, x):
        x = x if isinstance(x, mx.array) else mx.array(x)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"[SparseLinear] expected inputs (..., {self.in_features}), got {tuple(x.shape)}")
        # y = (W @ x^T)^T: a product with W itself, so its values need no transposing
        y = matmul(self.weight, x) if x.ndim == 1 else mx.swapaxes(matmul(self.weight, mx.swapaxes(x, -1, -2)), -1, -2)
        return y + self.bias if "bias" in self else y

    def _extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"nnz={self.weight.nnz}, bias={'bias' in self}")


class GCNConv(nn.Module):
    """Graph convolution (Kipf & Welling, 2017): ``A_hat @ (x @ W) + b``.

    ``A_hat`` is the normalised adjacency, computed once per graph with
    ``ms.normalize_adjacency(A, add_self_loops=True)`` and passed at every call. ``x`` may be
    dense or a CSRArray (sparse bag-of-words features stay sparse: x @ W is an SpMM).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        limit = math.sqrt(6.0 / (in_features + out_features))  # Glorot, as in the paper
        self.weight = mx.random.uniform(-limit, limit, (in_features, out_features))
        if bias:
            self.bias = mx.zeros((out_features,))

    def __call__(self, x, adjacency: CSRArray):
        if not isinstance(adjacency, CSRArray):
            raise TypeError("[GCNConv] adjacency must be a CSRArray (ms.normalize_adjacency(A))")
        if x.shape[-1] != self.weight.shape[0] or x.shape[0] != adjacency.shape[1]:
            raise ValueError(
                f"[GCNConv] features of shape {tuple(x.shape)} do not fit weight "
                f"{tuple(self.weight.shape)} and adjacency {adjacency.shape}"
            )
        y = adjacency @ _product(x, self.weight)
        return y + self.bias if "bias" in self else y


class GATConv(nn.Module):
    """Graph attention (Velickovic et al., 2018) with ``heads`` heads.

    For every stored edge (i, j) of ``adjacency`` and head h, the score is
    ``LeakyReLU(a_src[h] . Wx_i + a_dst[h] . Wx_j)``; ``ms.softmax`` turns each row's
    scores into attention weights, which (after attention dropout) weight an SpMM of the
    neighbours' features. Heads are concatenated (``concat=True``) or averaged. Pass an
    adjacency that contains self-loops, as the paper does.
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 1, *,
                 concat: bool = True, negative_slope: float = 0.2, dropout: float = 0.0,
                 bias: bool = True):
        super().__init__()
        self.heads, self.out_per_head, self.concat = heads, out_features, concat
        self.negative_slope = negative_slope
        limit = math.sqrt(6.0 / (in_features + heads * out_features))
        self.weight = mx.random.uniform(-limit, limit, (in_features, heads * out_features))
        limit = math.sqrt(6.0 / (1 + out_features))
        self.att_src = mx.random.uniform(-limit, limit, (heads, out_features))
        self.att_dst = mx.random.uniform(-limit, limit, (heads, out_features))
        self.attention_dropout = nn.Dropout(dropout)
        if bias:
            self.bias = mx.zeros((heads * out_features if concat else out_features,))

    def attention(self, x, adjacency: CSRArray) -> CSRArray:
        """The attention weights, a CSRArray of adjacency's pattern with values (heads, nnz)."""
        return softmax(adjacency._with_data(self._scores(self._features(x, adjacency), adjacency)))

    def _features(self, x, adjacency):
        if x.shape[-1] != self.weight.shape[0] or x.shape[0] != adjacency.shape[1]:
            raise ValueError(
                f"[GATConv] features of shape {tuple(x.shape)} do not fit weight "
                f"{tuple(self.weight.shape)} and adjacency {adjacency.shape}"
            )
        n = x.shape[0]
        return _product(x, self.weight).reshape(n, self.heads, self.out_per_head)

    def _scores(self, h, adjacency):
        src = (h * self.att_src).sum(-1)  # (n, heads): the row end of each edge
        dst = (h * self.att_dst).sum(-1)  # the column end
        rows = adjacency._rows()
        e = mx.take(src, rows, axis=0) + mx.take(dst, adjacency.indices, axis=0)  # (nnz, heads)
        return nn.leaky_relu(e, self.negative_slope).T  # (heads, nnz)

    def __call__(self, x, adjacency: CSRArray):
        if not isinstance(adjacency, CSRArray):
            raise TypeError("[GATConv] adjacency must be a CSRArray")
        h = self._features(x, adjacency)
        alpha = softmax(adjacency._with_data(self._scores(h, adjacency))).data
        alpha = self.attention_dropout(alpha)
        # one SpMM per head, batched: values (heads, nnz) @ features (heads, n, out)
        out = _ext.csr_spmm(adjacency.indptr, adjacency.indices, alpha, h.transpose(1, 0, 2),
                            adjacency.shape[1], False, [], adjacency._lengths())
        out = out.transpose(1, 0, 2)  # (n, heads, out)
        out = out.reshape(out.shape[0], -1) if self.concat else out.mean(axis=1)
        return out + self.bias if "bias" in self else out


def _layout_host(layout, shape, op: str) -> np.ndarray:
    """A block layout as a C-contiguous numpy bool array of the given shape; raises naming op."""
    a = np.array(layout.astype(mx.int32) if isinstance(layout, mx.array) and layout.dtype != mx.bool_
                 else layout)
    if a.dtype != np.bool_:
        if not np.issubdtype(a.dtype, np.number) or (a.size and not np.isin(a, (0, 1)).all()):
            raise ValueError(f"[{op}] a layout holds bools or 0/1, got dtype {a.dtype}")
        a = a != 0
    if a.shape != tuple(shape):
        raise ValueError(f"[{op}] expected a layout of shape {tuple(shape)} (blocks), got {a.shape}")
    return np.ascontiguousarray(a)


def _block_size(block_size, op: str) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"[{op}] block_size must be a positive int, got {block_size!r}")
    return int(block_size)


class BlockSparseLinear(nn.Module):
    """``y = x @ W.T + b`` with W (out_features, in_features) made of ``block_size`` squared
    blocks, only those a fixed layout marks stored.

    ``layout`` is bool (out_features / block_size, in_features / block_size); without one, a
    random ``round(density * n_blocks)`` blocks are chosen (with ``key``, an ``mx.random``
    key). The stored blocks ``blocks`` (nnzb, bs, bs), in row-major order of the layout, and
    ``bias`` are the trainable parameters; the layout is frozen state, saved with the weights.
    Blocks start uniform in +-1/sqrt(in_features * density), as a dense layer with as many
    inputs. The forward pass is one SpMM with W as a :class:`~mlx_sparse.BSRArray`: on the
    CPU our threaded SpMM kernel ran it 5x faster than ``blocksparse.matmul``'s gathers and
    batched ``mx.matmul`` (1024 x 1024, bs 32, 25 % of blocks, batch 256: 21 ms against 116 ms).
    """

    def __init__(self, in_features: int, out_features: int, layout=None, block_size: int = 32,
                 density: float = 0.25, bias: bool = True, *, key=None):
        super().__init__()
        op = "BlockSparseLinear"
        bs = _block_size(block_size, op)
        if in_features % bs or out_features % bs or in_features < 1 or out_features < 1:
            raise ValueError(f"[{op}] block_size {bs} must divide in_features {in_features} and "
                             f"out_features {out_features}")
        shape = (out_features // bs, in_features // bs)
        layout_key, key = mx.random.split(key) if key is not None else (None, None)
        if layout is None:
            if not 0.0 < density <= 1.0:
                raise ValueError(f"[{op}] density must be in (0, 1], got {density}")
            keep = max(1, int(round(density * shape[0] * shape[1])))
            order = np.argsort(np.array(mx.random.uniform(shape=(shape[0] * shape[1],), key=layout_key)))
            layout = np.zeros(shape[0] * shape[1], np.bool_)
            layout[order[:keep]] = True
            layout = layout.reshape(shape)
        self.block_size = bs
        self.layout = mx.array(_layout_host(layout, shape, op))
        self.freeze(keys=["layout"], recurse=False)
        nnzb = int(self._host.sum())
        scale = 1.0 / math.sqrt(max(1.0, in_features * nnzb / max(1, shape[0] * shape[1])))
        self.blocks = mx.random.uniform(-scale, scale, (nnzb, bs, bs), key=key)
        if bias:
            self.bias = mx.zeros((out_features,))

    @classmethod
    def from_dense(cls, linear_or_weight, block_size: int = 32,
                   density: float = 0.25) -> "BlockSparseLinear":
        """Prune a dense ``nn.Linear`` (or a weight (out, in)) to its blocks of largest norm.

        Keeps ``max(1, round(density * n_blocks))`` blocks by Frobenius norm (ties broken by
        position), their values, and the bias of an ``nn.Linear``.
        """
        op = "BlockSparseLinear"
        if not 0.0 < density <= 1.0:
            raise ValueError(f"[{op}] density must be in (0, 1], got {density}")
        is_linear = isinstance(linear_or_weight, nn.Linear)
        weight = linear_or_weight.weight if is_linear else mx.array(linear_or_weight)
        if weight.ndim != 2:
            raise ValueError(f"[{op}] expected a 2-D weight, got shape {tuple(weight.shape)}")
        bs = _block_size(block_size, op)
        (m, n) = weight.shape
        if m % bs or n % bs:
            raise ValueError(f"[{op}] block_size {bs} must divide the weight's shape {(m, n)}")
        tiles = weight.reshape(m // bs, bs, n // bs, bs).transpose(0, 2, 1, 3)
        norms = np.asarray(mx.sum(mx.square(tiles.astype(mx.float32)), axis=(2, 3))).ravel()
        keep = max(1, int(round(density * norms.size)))
        layout = np.zeros(norms.size, np.bool_)
        layout[np.argsort(-norms, kind="stable")[:keep]] = True
        layout = layout.reshape(m // bs, n // bs)
        layer = cls(n, m, layout, bs, bias=is_linear and "bias" in linear_or_weight)
        layer.blocks = mx.stop_gradient(tiles.reshape(-1, bs, bs)[mx.array(np.flatnonzero(layout))])
        if "bias" in layer:
            layer.bias = linear_or_weight.bias
        return layer

    def __setitem__(self, key, value):
        # every way a layout arrives (construction, update, load_weights) refreshes the host copy
        if key == "layout" and isinstance(value, mx.array):
            shape = self["layout"].shape if "layout" in self else value.shape
            object.__setattr__(self, "_host", _layout_host(value, shape, "BlockSparseLinear"))
        super().__setitem__(key, value)

    def unfreeze(self, *args, **kwargs):
        """As ``nn.Module.unfreeze``; the layout stays frozen (it is structure, not a parameter)."""
        super().unfreeze(*args, **kwargs)
        return self.freeze(keys=["layout"], recurse=False)

    @property
    def in_features(self) -> int:
        return self._host.shape[1] * self.block_size

    @property
    def out_features(self) -> int:
        return self._host.shape[0] * self.block_size

    def _bsr(self) -> BSRArray:
        """W as a BSRArray on the stored blocks; its structure (and CSR form) is built once per
        layout and shared by every call."""
        host, blocks = self._host, self["blocks"]
        if blocks.shape != (int(host.sum()), self.block_size, self.block_size):
            raise ValueError(f"[BlockSparseLinear] blocks {tuple(blocks.shape)} do not fit the layout "
                             f"({int(host.sum())} blocks of {self.block_size} x {self.block_size})")
        cached = getattr(self, "_structure", None)
        if cached is None or cached[0] is not host:
            rows, cols = np.nonzero(host)
            indptr = np.concatenate([[0], np.cumsum(host.sum(axis=1))]).astype(np.int32)
            W = BSRArray(blocks, mx.array(cols.astype(np.int32)), mx.array(indptr),
                         (self.out_features, self.in_features))
            cached = (host, W)
            object.__setattr__(self, "_structure", cached)
        return cached[1]._with_data(blocks)

    def to_dense(self) -> mx.array:
        """W as a dense (out_features, in_features) array (absent blocks are 0)."""
        return self._bsr().todense()

    @property
    def weight(self) -> mx.array:
        """W, dense, for inspection (the trainable parameter is ``blocks``)."""
        return self.to_dense()

    def __call__(self, x):
        x = x if isinstance(x, mx.array) else mx.array(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"[BlockSparseLinear] expected inputs (..., {self.in_features}), "
                             f"got {tuple(x.shape)}")
        W = self._bsr()
        # y = (W @ x^T)^T: a product with W itself, so its blocks need no transposing
        y = matmul(W, x) if x.ndim == 1 else mx.swapaxes(matmul(W, mx.swapaxes(x, -1, -2)), -1, -2)
        return y + self.bias if "bias" in self else y

    def _extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"block_size={self.block_size}, nnzb={int(self._host.sum())}, bias={'bias' in self}")


class BlockSparseAttention(nn.Module):
    """Multi-head attention over only the blocks of an attention layout, called as
    ``mlx.nn.MultiHeadAttention``: ``(queries, keys, values, mask=None)``, with the same
    projections (``query_proj``, ``key_proj``, ``value_proj``, ``out_proj``), so the two share
    weights.

    ``layout`` is bool (Lq / block_size, Lk / block_size), or (num_heads, ...) with one layout
    per head, for one sequence length; or a builder ``layout(n_query_blocks, n_key_blocks)``
    returning such an array, called once per pair of lengths, e.g.
    ``lambda nq, nk: bs.layouting.build_sliding_window_layout(1, nq, window=2, global_blocks=1)``.
    Absent blocks count as -inf; ``mask`` (as ``mx.fast.scaled_dot_product_attention``'s:
    bool True = attend, or additive) applies inside the stored blocks. Attention runs through
    :func:`mlx_sparse.blocksparse.flash_attention`: no (Lq x Lk) score array is built.
    """

    def __init__(self, dims: int, num_heads: int, layout, block_size: int = 64, *,
                 query_input_dims=None, key_input_dims=None, value_input_dims=None,
                 value_dims=None, value_output_dims=None, bias: bool = False):
        super().__init__()
        op = "BlockSparseAttention"
        if num_heads < 1 or dims % num_heads:
            raise ValueError(f"[{op}] dims {dims} must be a multiple of num_heads {num_heads}")
        value_dims = value_dims or dims
        if value_dims % num_heads:
            raise ValueError(f"[{op}] value_dims {value_dims} must be a multiple of num_heads {num_heads}")
        self.num_heads, self.block_size = num_heads, _block_size(block_size, op)
        # plain attributes (not module state): a layout is structure, and the weights stay
        # interchangeable with nn.MultiHeadAttention's
        if callable(layout):
            object.__setattr__(self, "_builder", layout)
            object.__setattr__(self, "_layouts", {})
        else:
            host = np.array(layout if not isinstance(layout, mx.array) else layout.astype(mx.int32))
            if host.ndim not in (2, 3):
                raise ValueError(f"[{op}] expected a layout (Lq/bs, Lk/bs) or (num_heads, ...), "
                                 f"got shape {host.shape}")
            object.__setattr__(self, "_builder", None)
            object.__setattr__(self, "_layouts", {host.shape[-2:]: self._checked(host, host.shape[-2:])})
        key_input_dims = key_input_dims or dims
        self.query_proj = nn.Linear(query_input_dims or dims, dims, bias=bias)
        self.key_proj = nn.Linear(key_input_dims, dims, bias=bias)
        self.value_proj = nn.Linear(value_input_dims or key_input_dims, value_dims, bias=bias)
        self.out_proj = nn.Linear(value_dims, value_output_dims or dims, bias=bias)

    def _checked(self, layout, blocks) -> np.ndarray:
        """The layout as (1 or 1 x num_heads, nq, nk) numpy bool, checked against the blocks."""
        host = np.asarray(layout if not isinstance(layout, mx.array) else layout.astype(mx.int32))
        if host.ndim == 3 and host.shape[0] == 1:
            host = host[0]
        want = (blocks if host.ndim == 2 else (self.num_heads, *blocks))
        host = _layout_host(host, want, "BlockSparseAttention")
        return host if host.ndim == 2 else host[None]

    def layout(self, query_length: int, key_length: int) -> np.ndarray:
        """The attention layout used for these lengths: (nq, nk) or (1, num_heads, nq, nk)."""
        op, bs = "BlockSparseAttention", self.block_size
        if query_length % bs or key_length % bs or not query_length or not key_length:
            raise ValueError(f"[{op}] sequence lengths ({query_length}, {key_length}) must be "
                             f"positive multiples of block_size {bs}")
        blocks = (query_length // bs, key_length // bs)
        if blocks not in self._layouts:
            if self._builder is None:
                (nq, nk) = next(iter(self._layouts))
                raise ValueError(f"[{op}] the layout is for lengths ({nq * bs}, {nk * bs}), got "
                                 f"({query_length}, {key_length})")
            self._layouts[blocks] = self._checked(self._builder(*blocks), blocks)
        return self._layouts[blocks]

    def __call__(self, queries, keys, values, mask=None):
        op = "BlockSparseAttention"
        if queries.ndim != 3 or keys.ndim != 3 or values.ndim != 3 or keys.shape[:2] != values.shape[:2] \
                or queries.shape[0] != keys.shape[0]:
            raise ValueError(f"[{op}] expected queries (B, Lq, _), keys and values (B, Lk, _), got "
                             f"{tuple(queries.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}")
        layout = self.layout(queries.shape[1], keys.shape[1])
        heads = self.num_heads
        q, k, v = (mx.unflatten(proj(x), -1, (heads, -1)).transpose(0, 2, 1, 3) for proj, x in
                   ((self.query_proj, queries), (self.key_proj, keys), (self.value_proj, values)))
        out = flash_attention(q, k, v, layout, scale=math.sqrt(1 / q.shape[-1]), mask=mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).flatten(-2, -1))


class SparseConv2d(nn.Module):
    """2-D convolution of sparse or dense image batches with a learnable kernel ``weight``
    (out_channels, in_channels, kH, kW), through its sparse Toeplitz matrix
    (:func:`mlx_sparse.convolve2d`: true convolution, modes as ``scipy.signal.convolve2d``).

    ``layer(x)`` for dense x (N, in_channels, H, W) gives (N, out_channels, H_out, W_out).
    ``layer(x, x_shape=(H, W))`` takes rows of channel-major flattened images
    (N, in_channels * H * W), dense or a CSRArray, and gives (N, out_channels * H_out * W_out):
    a CSRArray for a CSRArray x when the layer has no bias (a bias fills every pixel, so the
    output is then dense). Sparse outputs keep exact zeros, so every output entry's gradient
    reaches the kernel. The weight starts uniform in +-1/sqrt(in_channels * kH * kW).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mode: str = "same",
                 bias: bool = True):
        super().__init__()
        kH, kW = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        kH, kW = _image_shape((kH, kW), "kernel_size")
        output_shape((kH, kW), (kH, kW), mode)  # refuses an unknown mode here
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"[SparseConv2d] channels must be positive, got {in_channels}, {out_channels}")
        scale = 1.0 / math.sqrt(in_channels * kH * kW)
        self.weight = mx.random.uniform(-scale, scale, (out_channels, in_channels, kH, kW))
        if bias:
            self.bias = mx.zeros((out_channels,))
        self.mode = mode

    def __call__(self, x, x_shape=None):
        c_out, c_in = self.weight.shape[:2]
        if isinstance(x, CSRArray):
            y = _convolve_sparse(x, self.weight, self.mode, x_shape, c_in, None, drop_zeros=False)
            if "bias" not in self:
                return y
            y = mx.reshape(y.todense(), (y.shape[0], c_out, -1)) + self.bias[:, None]
            return mx.reshape(y, (y.shape[0], -1))
        x = x if isinstance(x, mx.array) else mx.array(x)
        if x_shape is None:
            if x.ndim != 4 or x.shape[1] != c_in:
                raise ValueError(f"[SparseConv2d] expected images (N, {c_in}, H, W) or x_shape=(H, W) "
                                 f"with rows (N, {c_in} * H * W); got {tuple(x.shape)}")
            x_shape = x.shape[2:]
        x_shape = _image_shape(x_shape)
        (H_out, W_out), _ = output_shape(x_shape, self.weight.shape[2:], self.mode)
        rows = mx.reshape(x, (x.shape[0], -1))
        _check_batch(rows, x_shape, c_in)
        y = _convolve_dense(rows, self.weight, self.mode, x_shape, None)
        y = mx.reshape(y, (x.shape[0], c_out, H_out, W_out))
        if "bias" in self:
            y = y + self.bias[:, None, None]
        return y if x.ndim == 4 else mx.reshape(y, (x.shape[0], -1))

    def _extra_repr(self):
        c_out, c_in, kH, kW = self.weight.shape
        return (f"in_channels={c_in}, out_channels={c_out}, kernel_size={(kH, kW)}, "
                f"mode={self.mode!r}, bias={'bias' in self}")
