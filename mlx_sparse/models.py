"""Two-layer graph networks for node classification, and their training loop.

``GCN`` (Kipf & Welling, 2017) and ``GAT`` (Velickovic et al., 2018) with the papers'
hyper-parameters as defaults; ``train_node_classifier`` trains either on a
:class:`~mlx_sparse.datasets.Planetoid` graph and reports accuracies and time per epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from ._csr import CSRArray
from .nn import GATConv, GCNConv

__all__ = ["GCN", "GAT", "TrainResult", "train_node_classifier"]


def _dropout_features(x, p: float, training: bool):
    """Dropout on dense features, or on the stored values of sparse ones."""
    if not training or p == 0.0:
        return x
    if isinstance(x, CSRArray):
        keep = mx.random.bernoulli(1.0 - p, x.data.shape)
        return x._with_data(mx.where(keep, x.data / (1.0 - p), 0))
    return nn.Dropout(p)(x)


class GCN(nn.Module):
    """relu(A_hat X W1) -> dropout -> A_hat H W2 (logits); input dropout on X."""

    def __init__(self, in_features: int, hidden: int, classes: int, dropout: float = 0.5):
        super().__init__()
        self.conv1 = GCNConv(in_features, hidden)
        self.conv2 = GCNConv(hidden, classes)
        self.p = dropout

    def __call__(self, x, adjacency):
        x = _dropout_features(x, self.p, self.training)
        h = nn.relu(self.conv1(x, adjacency))
        h = _dropout_features(h, self.p, self.training)
        return self.conv2(h, adjacency)

    def weight_decay_terms(self):
        """Kipf & Welling decay the first layer's weights only."""
        return [self.conv1.weight]


class GAT(nn.Module):
    """Two GAT layers: heads x hidden with ELU, then ``out_heads`` heads averaged (logits)."""

    def __init__(self, in_features: int, hidden: int, classes: int, heads: int = 8,
                 out_heads: int = 1, dropout: float = 0.6):
        super().__init__()
        self.conv1 = GATConv(in_features, hidden, heads, dropout=dropout)
        self.conv2 = GATConv(hidden * heads, classes, out_heads, concat=False, dropout=dropout)
        self.p = dropout

    def __call__(self, x, adjacency):
        x = _dropout_features(x, self.p, self.training)
        h = nn.elu(self.conv1(x, adjacency))
        h = _dropout_features(h, self.p, self.training)
        return self.conv2(h, adjacency)

    def weight_decay_terms(self):
        """Velickovic et al. decay every parameter."""
        return [v for _, v in tree_flatten(self.trainable_parameters())]


@dataclass
class TrainResult:
    test_accuracy: float       # at the epoch of best validation accuracy
    best_val_accuracy: float
    best_epoch: int
    seconds_per_epoch: float   # forward + backward + update, median
    history: dict = field(default_factory=dict)  # per epoch: loss, train/val accuracy


def train_node_classifier(model: nn.Module, data, *, epochs: int = 200, lr: float = 0.01,
                          weight_decay: float = 5e-4, seed: int = 0,
                          adjacency: CSRArray | None = None, compile: bool = True,
                          optimizer: optim.Optimizer | None = None, callback=None,
                          verbose: bool | int = False) -> TrainResult:
    """Train ``model(features, adjacency)`` with cross-entropy on the train mask.

    ``weight_decay`` multiplies an L2 term (sum of squares / 2) over
    ``model.weight_decay_terms()``. Reports the test accuracy at the epoch of best
    validation accuracy. ``adjacency`` defaults to ``data.normalized_adjacency`` (GCN); pass
    the adjacency with self-loops for GAT.

    Parameters
    ----------
    optimizer : mlx.optimizers.Optimizer, optional
        Default ``Adam(learning_rate=lr)``, the papers' choice; a given optimizer brings its
        own learning rate (``lr`` is then unused) and keeps its state after training.
    callback : callable, optional
        ``callback(epoch, loss, val_accuracy)`` after every epoch (``epoch`` from 0, floats
        for the others). Returning ``True`` (any true value) stops training there (early
        stopping); the result then covers the epochs run.
    verbose : bool or int
        Print a progress line every 10 epochs (every ``verbose`` epochs for an int) and at
        the last one: epoch, loss, validation accuracy, and the test accuracy at the best
        validation accuracy so far.
    """
    mx.random.seed(seed)
    A = data.normalized_adjacency if adjacency is None else adjacency
    x, y = data.features, data.labels
    train, val, test = data.train_mask, data.val_mask, data.test_mask
    n_train = mx.sum(train)
    opt = optim.Adam(learning_rate=lr) if optimizer is None else optimizer
    every = 10 if verbose is True else int(verbose)

    def loss_fn(m):
        logits = m(x, A)
        ce = nn.losses.cross_entropy(logits, y, reduction="none")
        loss = mx.sum(mx.where(train, ce, 0)) / n_train
        decay = sum(mx.sum(mx.square(w)) for w in m.weight_decay_terms()) / 2
        return loss + weight_decay * decay

    grad_fn = nn.value_and_grad(model, loss_fn)

    def step():
        loss, grads = grad_fn(model)
        opt.update(model, grads)
        return loss

    state = [model.state, opt.state, mx.random.state]
    if compile:
        step = mx.compile(step, inputs=state, outputs=state)

    def accuracy(pred, mask):
        return float(mx.sum(mx.where(mask, pred == y, False)) / mx.sum(mask))

    history = {"loss": [], "train": [], "val": []}
    times, best = [], (-1.0, 0, 0.0)
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        loss = step()
        mx.eval(state, loss)
        times.append(time.perf_counter() - t0)
        model.eval()
        pred = mx.argmax(model(x, A), axis=1)
        val_acc = accuracy(pred, val)
        history["loss"].append(float(loss))
        history["train"].append(accuracy(pred, train))
        history["val"].append(val_acc)
        if val_acc > best[0]:
            best = (val_acc, epoch, accuracy(pred, test))
        stop = bool(callback(epoch, history["loss"][-1], val_acc)) if callback else False
        if every and (epoch % every == 0 or epoch == epochs - 1 or stop):
            print(f"epoch {epoch:4d}  loss {history['loss'][-1]:.4f}  val {val_acc:.4f}  "
                  f"test at best val {best[2]:.4f} (epoch {best[1]})", flush=True)
        if stop:
            break
    return TrainResult(best[2], best[0], best[1], float(np.median(times)), history)
