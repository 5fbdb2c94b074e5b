"""A sparse layer's pattern is part of its state: saved by save_weights and restored by
load_weights with its values (values saved for one pattern are meaningless on another, and
a new layer's pattern is random); a pattern that does not fit is refused."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_sparse as ms


def layer(seed, density=0.3):
    return ms.nn.SparseLinear(20, 10, density=density, seed=seed)


def test_pattern_is_saved_but_not_trained():
    L = layer(1)
    assert [k for k, _ in tree_flatten(L.parameters())] == [
        "pattern.indices", "pattern.indptr", "pattern.shape", "weight.data", "bias"]
    assert [k for k, _ in tree_flatten(L.trainable_parameters())] == ["weight.data", "bias"]
    L.unfreeze()
    assert [k for k, _ in tree_flatten(L.trainable_parameters())] == ["weight.data", "bias"]


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_round_trip_into_the_same_pattern(tmp_path, suffix):
    L = layer(1)
    path = str(tmp_path / f"w.{suffix}")
    L.save_weights(path)
    L2 = layer(1)
    L2.weight = L2.weight.with_data(mx.zeros((L2.weight.nnz,)))
    L2.load_weights(path)
    x = mx.random.normal((3, 20))
    np.testing.assert_allclose(np.array(L2(x)), np.array(L(x)), rtol=1e-6)


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_another_pattern_is_restored(tmp_path, suffix):
    """Loading into a layer with another pattern of as many entries used to succeed with the
    layer's own pattern: silently wrong outputs."""
    L = layer(1)
    path = str(tmp_path / f"w.{suffix}")
    L.save_weights(path)
    other = layer(2)
    assert other.weight.nnz == L.weight.nnz
    assert not np.array_equal(np.array(other.weight.indices), np.array(L.weight.indices))
    other.load_weights(path)
    x = mx.random.normal((3, 20))
    np.testing.assert_allclose(np.array(other(x)), np.array(L(x)), rtol=1e-6)
    np.testing.assert_array_equal(other.weight.toarray(), L.weight.toarray())


def test_a_pattern_that_does_not_fit_is_refused(tmp_path):
    L = layer(1)
    path = str(tmp_path / "w.npz")
    L.save_weights(path)
    with pytest.raises(ValueError, match="shape"):  # another nnz: MLX's own shape check
        layer(1, density=0.5).load_weights(path)
    weights = dict(mx.load(path))
    weights["pattern.indices"] = mx.full(weights["pattern.indices"].shape, 25, dtype=mx.int32)
    bad = layer(1)
    bad.load_weights(list(weights.items()))
    with pytest.raises(ValueError, match=r"\[SparseLinear\] the loaded pattern does not fit its values: "
                                         r".*column index 25 is out of range for 20 columns"):
        bad(mx.ones((1, 20)))
    weights = dict(mx.load(path))
    weights["pattern.shape"] = mx.array([10, 21])
    bad = layer(1)
    bad.load_weights(list(weights.items()))
    with pytest.raises(ValueError, match=r"\[SparseLinear\] the loaded pattern has shape \(10, 21\), this layer \(10, 20\)"):
        bad.weight


def test_pruned_layer_saves_its_pattern(tmp_path):
    W = mx.random.normal((6, 8))
    L = ms.nn.SparseLinear.from_dense(W, sparsity=0.5)
    L.save_weights(str(tmp_path / "p.npz"))
    L2 = ms.nn.SparseLinear.from_dense(-W * mx.arange(48).reshape(6, 8), sparsity=0.5)
    L2.load_weights(str(tmp_path / "p.npz"))
    np.testing.assert_array_equal(L2.weight.toarray(), L.weight.toarray())


def test_compiled_training_with_the_pattern_in_state():
    L = layer(3)
    opt = optim.Adam(learning_rate=1e-2)
    x = mx.random.normal((4, 20))
    loss = lambda m: mx.square(m(x)).sum()  # noqa: E731
    state = [L.state, opt.state]

    def step():
        value, grads = nn.value_and_grad(L, loss)(L)
        opt.update(L, grads)
        return value

    step = mx.compile(step, inputs=state, outputs=state)
    losses = []
    for _ in range(5):
        losses.append(step())
        mx.eval(state, losses[-1])
    assert float(losses[-1]) < float(losses[0])
    np.testing.assert_array_equal(np.array(L.pattern["indices"]), np.array(L.weight.indices))
