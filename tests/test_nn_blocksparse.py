"""mlx_sparse.nn.BlockSparseLinear and BlockSparseAttention against their dense equivalents:
nn.Linear with the weight masked to the layout, nn.MultiHeadAttention with the same weights,
and dense attention with -inf outside the layout; gradients against mx.grad of the dense
references; training, state and saving; errors."""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_sparse.blocksparse as bs
from mlx_sparse.nn import BlockSparseAttention, BlockSparseLinear

LAYOUT = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1]], bool)  # (3, 4): an empty block row


def linear(dtype=mx.float32, bias=True):
    layer = BlockSparseLinear(32, 24, LAYOUT, block_size=8, bias=bias)
    if bias:
        layer.bias = mx.random.normal((24,), key=mx.random.key(5))
    layer.set_dtype(dtype)
    return layer


def masked_dense(layer):
    """The dense weight from the blocks and the layout, assembled in numpy."""
    s, W = layer.block_size, np.zeros((layer.out_features, layer.in_features), np.float64)
    for blk, (i, j) in zip(np.array(layer.blocks.astype(mx.float32)), np.argwhere(LAYOUT)):
        W[i * s:(i + 1) * s, j * s:(j + 1) * s] = blk
    return W


# ---- BlockSparseLinear

def test_linear_equals_masked_nn_linear():
    layer = linear()
    assert [k for k, _ in tree_flatten(layer.trainable_parameters())] == ["blocks", "bias"]
    assert [k for k, _ in tree_flatten(layer.parameters())] == ["layout", "blocks", "bias"]
    assert layer.blocks.shape == (5, 8, 8)
    W = masked_dense(layer)
    np.testing.assert_array_equal(np.array(layer.weight), W)
    dense = nn.Linear(32, 24)
    dense.update({"weight": mx.array(W.astype(np.float32)), "bias": layer.bias})
    for shape in [(32,), (5, 32), (2, 3, 32)]:
        x = mx.random.normal(shape, key=mx.random.key(len(shape)))
        np.testing.assert_allclose(np.array(layer(x)), np.array(dense(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.array(layer(mx.zeros((1, 32))))[0, 8:16], np.array(layer.bias)[8:16])


def test_linear_random_layout_and_no_bias():
    layer = BlockSparseLinear(64, 32, block_size=16, density=0.5, bias=False, key=mx.random.key(0))
    assert int(np.array(layer.layout).sum()) == 4 and layer.blocks.shape == (4, 16, 16)
    assert [k for k, _ in tree_flatten(layer.trainable_parameters())] == ["blocks"]
    x = mx.random.normal((3, 64))
    np.testing.assert_allclose(np.array(layer(x)), np.array(x @ layer.weight.T), rtol=1e-5, atol=1e-5)
    again = BlockSparseLinear(64, 32, block_size=16, density=0.5, key=mx.random.key(0))
    np.testing.assert_array_equal(np.array(again.layout), np.array(layer.layout))


def test_linear_gradients_match_dense():
    layer = linear()
    x = mx.random.normal((6, 32), key=mx.random.key(2))
    lut = mx.array(np.argwhere(LAYOUT).astype(np.int32))

    def dense_loss(blocks, bias):  # the same blocks scattered into a dense weight
        W = mx.zeros((3, 4, 8, 8)).at[lut[:, 0], lut[:, 1]].add(blocks)
        return mx.sum(mx.sin(x @ W.transpose(0, 2, 1, 3).reshape(24, 32).T + bias))

    def sparse_loss(params):
        layer.update(params)
        return mx.sum(mx.sin(layer(x)))

    grads = dict(tree_flatten(mx.grad(sparse_loss)(layer.trainable_parameters())))
    g_blocks, g_bias = mx.grad(dense_loss, argnums=(0, 1))(layer.blocks, layer.bias)
    np.testing.assert_allclose(np.array(grads["blocks"]), np.array(g_blocks), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(grads["bias"]), np.array(g_bias), rtol=1e-4, atol=1e-5)


def test_optimizer_step_changes_only_stored_blocks():
    layer = linear()
    before, layout = np.array(layer.weight), np.array(layer.layout)
    x, y = mx.random.normal((8, 32)), mx.random.normal((8, 24))
    step = nn.value_and_grad(layer, lambda m: mx.mean(mx.square(m(x) - y)))
    opt = optim.SGD(learning_rate=0.1)
    losses = []
    for _ in range(3):
        loss, grads = step(layer)
        assert set(dict(tree_flatten(grads))) == {"blocks", "bias"}
        opt.update(layer, grads)
        mx.eval(layer.parameters())
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    after = np.array(layer.weight)
    mask = np.kron(LAYOUT, np.ones((8, 8), bool))
    assert np.all(after[~mask] == 0) and np.all(after[mask] != before[mask])
    np.testing.assert_array_equal(np.array(layer.layout), layout)


def test_compiled_training_with_the_layout_in_state():
    layer = linear()
    opt = optim.Adam(learning_rate=1e-2)
    x = mx.random.normal((4, 32))
    state = [layer.state, opt.state]

    def step():
        value, grads = nn.value_and_grad(layer, lambda m: mx.square(m(x)).sum())(layer)
        opt.update(layer, grads)
        return value

    step = mx.compile(step, inputs=state, outputs=state)
    losses = []
    for _ in range(4):
        losses.append(step())
        mx.eval(state, losses[-1])
    assert float(losses[-1]) < float(losses[0])


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_linear_save_and_load_round_trip(tmp_path, suffix):
    layer = linear()
    path = str(tmp_path / f"w.{suffix}")
    layer.save_weights(path)
    other = BlockSparseLinear(32, 24, LAYOUT[::-1, ::-1].copy(), block_size=8)  # 5 blocks elsewhere
    other.load_weights(path)
    np.testing.assert_array_equal(np.array(other.layout), LAYOUT)
    x = mx.random.normal((3, 32))
    np.testing.assert_array_equal(np.array(other(x)), np.array(layer(x)))
    with pytest.raises(ValueError, match="shape"):  # another number of blocks: MLX's own check
        BlockSparseLinear(32, 24, np.ones((3, 4), bool), block_size=8).load_weights(path)


def test_linear_from_dense_keeps_largest_blocks():
    dense = nn.Linear(32, 16)
    scale = np.ones((2, 4), np.float32)
    scale[0, 3], scale[1, 0], scale[1, 2] = 10, 5, 7
    dense.weight = dense.weight * mx.array(np.kron(scale, np.ones((8, 8), np.float32)))
    layer = BlockSparseLinear.from_dense(dense, block_size=8, density=3 / 8)
    np.testing.assert_array_equal(np.array(layer.layout), scale > 1)
    W = np.array(dense.weight) * np.kron(scale > 1, np.ones((8, 8)))
    np.testing.assert_array_equal(np.array(layer.weight), W)
    x = mx.random.normal((2, 32))
    np.testing.assert_allclose(np.array(layer(x)), np.array(x) @ W.T + np.array(dense.bias),
                               rtol=1e-5, atol=1e-5)
    bare = BlockSparseLinear.from_dense(np.array(dense.weight), block_size=8, density=0.01)
    assert "bias" not in bare and bare.blocks.shape == (1, 8, 8)  # at least one block


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16])
def test_linear_half_precision(dtype):
    layer = linear(dtype)
    assert layer.blocks.dtype == dtype
    x = mx.random.normal((4, 32)).astype(dtype)
    out = layer(x)
    assert out.dtype == dtype
    ref = np.array(x.astype(mx.float32)) @ masked_dense(layer).T + np.array(layer.bias.astype(mx.float32))
    np.testing.assert_allclose(np.array(out.astype(mx.float32)), ref, rtol=2e-2, atol=3e-2)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] block_size 8 must divide"):
        BlockSparseLinear(30, 24, block_size=8)
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] expected a layout of shape \(3, 4\)"):
        BlockSparseLinear(32, 24, np.ones((4, 3), bool), block_size=8)
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] a layout holds bools or 0/1"):
        BlockSparseLinear(32, 24, np.full((3, 4), 2), block_size=8)
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] block_size must be a positive int"):
        BlockSparseLinear(32, 24, block_size=0)
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] density must be in"):
        BlockSparseLinear(32, 24, block_size=8, density=0.0)
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] expected inputs \(\.\.\., 32\)"):
        linear()(mx.zeros((2, 31)))
    layer = linear()
    layer.load_weights([("layout", mx.ones((3, 4), mx.bool_))], strict=False)  # 12 blocks, 5 values
    with pytest.raises(ValueError, match=r"\[BlockSparseLinear\] blocks \(5, 8, 8\) do not fit"):
        layer(mx.zeros((1, 32)))


# ---- BlockSparseAttention

def attention_pair(layout, size, dims=32, heads=4, bias=False, **kw):
    sparse = BlockSparseAttention(dims, heads, layout, size, bias=bias, **kw)
    dense = nn.MultiHeadAttention(dims, heads, bias=bias, **kw)
    dense.update(sparse.parameters())
    return sparse, dense


def test_attention_full_layout_equals_multi_head_attention():
    q, kv = mx.random.normal((2, 32, 32)), mx.random.normal((2, 48, 24))
    sparse, dense = attention_pair(np.ones((4, 6), bool), 8, bias=True, key_input_dims=24)
    assert sorted(k for k, _ in tree_flatten(sparse.parameters())) == \
        sorted(k for k, _ in tree_flatten(dense.parameters()))
    np.testing.assert_allclose(np.array(sparse(q, kv, kv)), np.array(dense(q, kv, kv)),
                               rtol=1e-4, atol=1e-5)
    mask = nn.MultiHeadAttention.create_additive_causal_mask(32)[:, :32]
    x = mx.random.normal((2, 32, 32))
    sparse, dense = attention_pair(np.ones((4, 4), bool), 8)
    np.testing.assert_allclose(np.array(sparse(x, x, x, mask=mask)), np.array(dense(x, x, x, mask=mask)),
                               rtol=1e-4, atol=1e-5)


def sliding(nq, nk):
    return bs.layouting.build_sliding_window_layout(1, nq, window=1, global_blocks=1)


def test_attention_sliding_layout_equals_masked_dense():
    x = mx.random.normal((2, 64, 32))
    sparse, dense = attention_pair(sliding, 8)
    layout = np.array(sliding(8, 8))[0]
    additive = mx.array(np.where(np.kron(layout, np.ones((8, 8), bool)), 0.0, -np.inf).astype(np.float32))
    np.testing.assert_allclose(np.array(sparse(x, x, x)), np.array(dense(x, x, x, mask=additive)),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(sparse.layout(64, 64), layout)
    # per-head layouts: head h sees a window of h blocks
    per_head = np.stack([np.array(bs.layouting.build_sliding_window_layout(1, 8, h))[0] for h in range(4)])
    sparse, dense = attention_pair(per_head, 8)
    additive = mx.array(np.where(np.kron(per_head, np.ones((8, 8), bool)), 0.0, -np.inf).astype(np.float32))
    np.testing.assert_allclose(np.array(sparse(x, x, x)), np.array(dense(x, x, x, mask=additive)),
                               rtol=1e-4, atol=1e-5)


def test_attention_gradients_match_dense():
    x = mx.random.normal((2, 32, 16))
    sparse, dense = attention_pair(sliding, 8, dims=16, heads=2, bias=True)
    layout = np.array(sliding(4, 4))[0]
    additive = mx.array(np.where(np.kron(layout, np.ones((8, 8), bool)), 0.0, -1e9).astype(np.float32))

    def loss(model, x, **kw):
        return mx.sum(mx.sin(model(x, x, x, **kw)))

    gs = nn.value_and_grad(sparse, loss)(sparse, x)[1]
    gd = nn.value_and_grad(dense, lambda m, x: loss(m, x, mask=additive))(dense, x)[1]
    gd = dict(tree_flatten(gd))
    for name, g in tree_flatten(gs):
        np.testing.assert_allclose(np.array(g), np.array(gd[name]), rtol=1e-4, atol=1e-5, err_msg=name)
    gx = mx.grad(lambda x: loss(sparse, x))(x)
    gx_ref = mx.grad(lambda x: loss(dense, x, mask=additive))(x)
    np.testing.assert_allclose(np.array(gx), np.array(gx_ref), rtol=1e-4, atol=1e-5)


def test_attention_trains_and_round_trips(tmp_path):
    x, y = mx.random.normal((2, 32, 16)), mx.random.normal((2, 32, 16))
    model = BlockSparseAttention(16, 2, sliding, 8)
    step = nn.value_and_grad(model, lambda m: mx.mean(mx.square(m(x, x, x) - y)))
    opt = optim.Adam(learning_rate=1e-2)
    losses = []
    for _ in range(5):
        loss, grads = step(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    path = str(tmp_path / "a.safetensors")
    model.save_weights(path)
    other = BlockSparseAttention(16, 2, sliding, 8)
    other.load_weights(path)
    np.testing.assert_array_equal(np.array(other(x, x, x)), np.array(model(x, x, x)))


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16])
def test_attention_half_precision(dtype):
    x = mx.random.normal((1, 32, 16))
    sparse, dense = attention_pair(sliding, 8, dims=16, heads=2)
    layout = np.array(sliding(4, 4))[0]
    additive = mx.array(np.where(np.kron(layout, np.ones((8, 8), bool)), 0.0, -np.inf).astype(np.float32))
    ref = np.array(dense(x, x, x, mask=additive))
    sparse.set_dtype(dtype)
    out = sparse(x.astype(dtype), x.astype(dtype), x.astype(dtype))
    assert out.dtype == dtype
    np.testing.assert_allclose(np.array(out.astype(mx.float32)), ref, rtol=3e-2, atol=3e-2)


def test_attention_errors():
    with pytest.raises(ValueError, match=r"\[BlockSparseAttention\] dims 30 must be a multiple"):
        BlockSparseAttention(30, 4, np.ones((2, 2), bool), 8)
    with pytest.raises(ValueError, match=r"\[BlockSparseAttention\] expected a layout \(Lq/bs"):
        BlockSparseAttention(32, 4, np.ones(4, bool), 8)
    fixed = BlockSparseAttention(32, 4, np.ones((4, 4), bool), 8)
    x = mx.zeros((1, 32, 32))
    with pytest.raises(ValueError, match=r"\[BlockSparseAttention\] the layout is for lengths \(32, 32\)"):
        fixed(mx.zeros((1, 64, 32)), x, x)
    with pytest.raises(ValueError, match=r"must be positive multiples of block_size 8"):
        fixed(mx.zeros((1, 30, 32)), x, x)
    with pytest.raises(ValueError, match=r"expected queries \(B, Lq, _\)"):
        fixed(mx.zeros((32, 32)), x, x)
    with pytest.raises(ValueError, match=r"\[BlockSparseAttention\] expected a layout of shape \(4, 4, 4\)"):
        BlockSparseAttention(32, 4, np.ones((3, 4, 4), bool), 8)
    built = BlockSparseAttention(32, 4, lambda nq, nk: np.ones((nq, nq), bool), 8)
    with pytest.raises(ValueError, match=r"\[BlockSparseAttention\] expected a layout of shape \(4, 2\)"):
        built(x, mx.zeros((1, 16, 32)), mx.zeros((1, 16, 32)))
    assert math.isfinite(float(built(x, x, x).sum()))
