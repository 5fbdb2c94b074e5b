"""Sparse layers for ``mlx.nn``: SparseLinear, GCNConv and GATConv.

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
from ._construct import fromdense
from ._csr import CSRArray
from ._graph import random as _random_pattern
from ._ops import matmul, softmax, spmm

__all__ = ["SparseLinear", "GCNConv", "GATConv"]


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
