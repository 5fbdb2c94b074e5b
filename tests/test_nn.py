"""mlx_sparse.nn layers as mlx.nn Modules, against dense numpy references; and a short GCN
and GAT training run on the real Cora graph."""

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_sparse as ms
from conftest import DENSE_RTOL, assert_close, rand, to_np

# Dense float32 matmuls on MLX's CUDA backend may use TF32: looser where a layer has one.


def small_graph(n=12, seed=0):
    rng = np.random.default_rng(seed)
    D = (rng.random((n, n)) < 0.3).astype(np.float64)
    D = np.maximum(D, D.T)
    np.fill_diagonal(D, 1.0)
    return D, ms.csr_array(D, dtype=mx.float32)


# ---- SparseLinear

def test_sparse_linear_forward_and_parameters():
    mx.random.seed(0)
    layer = ms.nn.SparseLinear(20, 7, density=0.3, seed=1)
    names = [k for k, _ in tree_flatten(layer.trainable_parameters())]
    assert sorted(names) == ["bias", "weight.data"]
    W = layer.weight.toarray()
    assert (W != 0).mean() == pytest.approx(0.3, abs=0.02)
    x = rand((5, 20), seed=2)
    assert_close(layer(mx.array(x)), x @ W.T + to_np(layer.bias), mx.float32)
    assert_close(layer(mx.array(x[0])), x[0] @ W.T + to_np(layer.bias), mx.float32)
    assert_close(layer(mx.array(rand((2, 5, 20), seed=3))),
                 rand((2, 5, 20), seed=3) @ W.T + to_np(layer.bias), mx.float32)
    with pytest.raises(ValueError, match=r"\[SparseLinear\] expected inputs \(\.\.\., 20\)"):
        layer(mx.ones((3, 19)))


def test_sparse_linear_trains_values_not_pattern(tmp_path):
    mx.random.seed(0)
    layer = ms.nn.SparseLinear(16, 4, density=0.25, seed=2)
    pattern = (np.asarray(layer.weight.indices).copy(), np.asarray(layer.weight.indptr).copy())
    before = to_np(layer.weight.data).copy()
    x, target = mx.array(rand((32, 16), seed=4)), mx.array(rand((32, 4), seed=5))
    opt = optim.SGD(learning_rate=0.1)
    loss_and_grad = nn.value_and_grad(layer, lambda m: mx.mean(mx.square(m(x) - target)))

    state = [layer.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step():
        loss, grads = loss_and_grad(layer)
        opt.update(layer, grads)
        return loss

    losses = [float(step()) for _ in range(30)]
    assert losses[-1] < losses[0]
    assert isinstance(layer.weight, ms.CSRArray)
    np.testing.assert_array_equal(np.asarray(layer.weight.indices), pattern[0])
    np.testing.assert_array_equal(np.asarray(layer.weight.indptr), pattern[1])
    assert not np.allclose(to_np(layer.weight.data), before)
    # save / load round trip
    path = str(tmp_path / "w.safetensors")
    layer.save_weights(path)
    other = ms.nn.SparseLinear(16, 4, density=0.25, seed=2)
    other.load_weights(path)
    np.testing.assert_array_equal(to_np(other.weight.data), to_np(layer.weight.data))


def test_sparse_linear_from_dense_prunes_by_magnitude():
    mx.random.seed(0)
    dense = nn.Linear(10, 6)
    W = np.asarray(dense.weight)
    layer = ms.nn.SparseLinear.from_dense(dense, sparsity=0.75)
    kept = layer.weight.toarray()
    assert layer.weight.nnz == 15
    assert np.abs(W[kept != 0]).min() >= np.abs(W[kept == 0]).max()
    np.testing.assert_allclose(kept[kept != 0], W[kept != 0])
    np.testing.assert_array_equal(np.asarray(layer.bias), np.asarray(dense.bias))
    from_w = ms.nn.SparseLinear.from_dense(dense.weight, sparsity=0.5)
    assert from_w.weight.nnz == 30 and "bias" not in from_w
    with pytest.raises(ValueError, match=r"\[SparseLinear\] sparsity must be in \[0, 1\)"):
        ms.nn.SparseLinear.from_dense(dense, sparsity=1.0)


# ---- GCNConv and GATConv

@pytest.mark.parametrize("sparse_features", [False, True])
def test_gcn_conv(sparse_features):
    mx.random.seed(0)
    D, A = small_graph()
    Ahat = ms.normalize_adjacency(A, add_self_loops=False)
    conv = ms.nn.GCNConv(5, 3)
    x = rand((12, 5), seed=6) * (rand((12, 5), seed=7) > 0)
    xin = ms.csr_array(x, dtype=mx.float32) if sparse_features else mx.array(x)
    ref = Ahat.toarray() @ (x @ np.asarray(conv.weight)) + np.asarray(conv.bias)
    assert_close(conv(xin, Ahat), ref, mx.float32, rtol=DENSE_RTOL)
    _, grads = nn.value_and_grad(conv, lambda m: mx.sum(m(xin, Ahat)))(conv)
    assert_close(grads["weight"], x.T @ Ahat.toarray().T @ np.ones((12, 3)), mx.float32, rtol=DENSE_RTOL)
    with pytest.raises(TypeError, match=r"\[GCNConv\] adjacency must be a CSRArray"):
        conv(mx.array(x), mx.array(D))


def dense_gat(x, D, W, a_src, a_dst, heads, out, concat, slope=0.2):
    h = (x @ W).reshape(-1, heads, out)
    src, dst = (h * a_src).sum(-1), (h * a_dst).sum(-1)
    outs = []
    for k in range(heads):
        e = src[:, k][:, None] + dst[:, k][None, :]
        e = np.where(e > 0, e, slope * e)
        e = np.where(D != 0, e, -np.inf)
        alpha = np.exp(e - e.max(1, keepdims=True))
        alpha /= alpha.sum(1, keepdims=True)
        outs.append(alpha @ h[:, k])
    out_ = np.stack(outs, 1)
    return out_.reshape(out_.shape[0], -1) if concat else out_.mean(1)


@pytest.mark.parametrize("concat", [True, False])
def test_gat_conv_against_dense_attention(concat):
    mx.random.seed(1)
    D, A = small_graph(seed=2)
    conv = ms.nn.GATConv(6, 4, heads=3, concat=concat)
    conv.eval()
    x = rand((12, 6), seed=8)
    ref = dense_gat(x, D, *(np.asarray(p) for p in (conv.weight, conv.att_src, conv.att_dst)),
                    3, 4, concat) + np.asarray(conv.bias)
    assert_close(conv(mx.array(x), A), ref, mx.float32, rtol=DENSE_RTOL)
    att = conv.attention(mx.array(x), A)
    assert att.data.shape == (3, A.nnz)
    sums = np.add.reduceat(to_np(att.data), np.asarray(A.indptr)[:-1], axis=1)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


def test_gat_conv_gradients_flow_to_attention_vectors():
    mx.random.seed(2)
    D, A = small_graph(seed=3)
    conv = ms.nn.GATConv(6, 4, heads=2)
    conv.eval()
    x = mx.array(rand((12, 6), seed=9))
    loss_and_grad = nn.value_and_grad(conv, lambda m: mx.sum(mx.square(m(x, A))))
    _, grads = loss_and_grad(conv)
    for name in ("weight", "att_src", "att_dst", "bias"):
        assert float(mx.abs(grads[name]).sum()) > 0, name


# ---- training on the real Cora graph (short: CI time; the full runs are in benchmarks/)

@pytest.fixture(scope="module")
def cora():
    return ms.datasets.load_planetoid("cora")


@pytest.mark.large
def test_gcn_trains_on_cora(cora):
    mx.random.seed(0)
    model = ms.models.GCN(cora.features.shape[1], 16, cora.num_classes)
    result = ms.models.train_node_classifier(model, cora, epochs=100, seed=0)
    assert result.test_accuracy > 0.78
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.large
def test_gat_trains_on_cora(cora):
    mx.random.seed(0)
    model = ms.models.GAT(cora.features.shape[1], 8, cora.num_classes, heads=8)
    A = cora.adjacency + ms.eye(cora.num_nodes)
    result = ms.models.train_node_classifier(model, cora, epochs=60, lr=0.005, seed=0, adjacency=A)
    assert result.test_accuracy > 0.75


def test_train_uses_the_given_optimizer(cora):
    model = ms.models.GCN(cora.features.shape[1], 16, cora.num_classes)
    before = {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}
    opt = optim.SGD(learning_rate=0.0)  # the default Adam would move every weight
    ms.models.train_node_classifier(model, cora, epochs=3, optimizer=opt)
    assert int(opt.state["step"]) == 3
    for k, v in tree_flatten(model.trainable_parameters()):
        np.testing.assert_array_equal(np.array(v), before[k], err_msg=k)


def test_train_callback_sees_each_epoch_and_stops_early(cora):
    calls = []

    def callback(epoch, loss, val_accuracy):
        calls.append((epoch, loss, val_accuracy))
        return epoch == 3

    model = ms.models.GCN(cora.features.shape[1], 16, cora.num_classes)
    result = ms.models.train_node_classifier(model, cora, epochs=50, callback=callback)
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert [c[1] for c in calls] == result.history["loss"]
    assert [c[2] for c in calls] == result.history["val"]
    assert all(isinstance(c[1], float) and 0 <= c[2] <= 1 for c in calls)


@pytest.mark.large
def test_train_verbose_prints_progress(cora, capsys):
    model = ms.models.GCN(cora.features.shape[1], 16, cora.num_classes)
    result = ms.models.train_node_classifier(model, cora, epochs=12, verbose=5)
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1]) for line in lines] == [0, 5, 10, 11]
    h = result.history
    for line, epoch in zip(lines, (0, 5, 10, 11)):
        best = int(np.argmax(h["val"][: epoch + 1]))  # first epoch of the best so far
        assert f"loss {h['loss'][epoch]:.4f}  val {h['val'][epoch]:.4f}" in line
        assert line.endswith(f"(epoch {best})")
    assert lines[-1].endswith(f"test at best val {result.test_accuracy:.4f} (epoch {result.best_epoch})")
    ms.models.train_node_classifier(model, cora, epochs=2, verbose=True)  # every 10, and the last
    assert [int(line.split()[1]) for line in capsys.readouterr().out.splitlines()] == [0, 1]
    ms.models.train_node_classifier(model, cora, epochs=2)
    assert capsys.readouterr().out == ""
