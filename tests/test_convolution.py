"""convolve2d, convolution_matrix2d, Toeplitz_convolution2d and nn.SparseConv2d against
scipy.signal.convolve2d (float64 on the host) and against mx.grad of a dense mx.conv2d."""

from __future__ import annotations

import itertools

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.signal import convolve2d as scipy_convolve2d

import mlx_sparse as ms
from mlx_sparse import _convolution
from conftest import assert_close, to_np

MODES = ["full", "same", "valid"]
SIZES = range(1, 7)


def _images(n, shape, seed, density=0.5):
    """n images with exact zeros (about 1 - density of the pixels), as float32-exact float64."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, *shape)) * (rng.random((n, *shape)) < density)
    return x.astype(np.float32).astype(np.float64)


def _kernel(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32).astype(np.float64)


def _reference(x, k, mode):
    return np.stack([scipy_convolve2d(image, k, mode) for image in x])


def _fits(x_shape, k_shape, mode):
    return mode != "valid" or (x_shape[0] >= k_shape[0] and x_shape[1] >= k_shape[1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kH", SIZES)
def test_every_small_shape_against_scipy(mode, kH):
    """Every (xH, xW, kH, kW) in 1..6: one image, a dense batch and a sparse batch (with
    explicit zeros stored in it); the sparse output keeps no zeros."""
    for xH, xW, kW in itertools.product(SIZES, SIZES, SIZES):
        x_shape, k_shape = (xH, xW), (kH, kW)
        seed = xH * 1000 + xW * 100 + kH * 10 + kW
        k = _kernel(k_shape, seed)
        if not _fits(x_shape, k_shape, mode):
            with pytest.raises(ValueError, match=r"\[convolve2d\] mode 'valid'"):
                ms.convolve2d(mx.zeros(x_shape), mx.array(k, mx.float32), mode)
            continue
        x = _images(3, x_shape, seed)
        want = _reference(x, k, mode)
        kk, xx = mx.array(k, mx.float32), mx.array(x, mx.float32)
        assert_close(ms.convolve2d(xx[0], kk, mode), want[0])
        rows = mx.reshape(xx, (3, -1))
        assert_close(ms.convolve2d(rows, kk, mode, x_shape=x_shape), want.reshape(3, -1))
        stored = sp.csr_array((x.reshape(3, -1) != 0) | (np.arange(xH * xW) % 3 == 0))
        stored.data = x.reshape(3, -1)[stored.nonzero()]  # a third of the pixels: explicit zeros
        out = ms.convolve2d(ms.csr_array(stored, dtype=mx.float32), kk, mode, x_shape=x_shape)
        assert out.has_canonical_format and not np.any(np.array(out.data) == 0)
        assert_close(out.toarray(), want.reshape(3, -1))


@pytest.mark.parametrize("mode", MODES)
def test_matrix_is_the_toeplitz_matrix(mode):
    """T @ x.ravel() is the convolution; one stored entry per (output pixel, kernel entry)
    inside the image, kernel zeros included; canonical; the pattern is built once."""
    k = _kernel((3, 4), 1)
    k[1, 2] = 0.0
    T = ms.convolution_matrix2d((7, 5), mx.array(k, mx.float32), mode)
    x = _images(1, (7, 5), 2)[0]
    want = scipy_convolve2d(x, k, mode)
    assert T.shape == (want.size, 35) and T.has_canonical_format
    assert_close(T.toarray() @ x.ravel(), want.ravel())
    hits = scipy_convolve2d(np.ones((7, 5)), np.ones((3, 4)), mode)
    assert T.nnz == int(hits.sum())  # every kernel entry stored, its zero included
    again = ms.convolution_matrix2d((7, 5), mx.array(k, mx.float32), mode)
    assert again.indices is T.indices and again._cache is T._cache


def test_matrix_dtypes_and_index_dtypes(monkeypatch):
    k = np.arange(1, 7, dtype=np.int64).reshape(2, 3)
    T = ms.convolution_matrix2d((4, 4), k)
    assert T.dtype == mx.float32 and T.index_dtype == mx.int32
    T64 = ms.convolution_matrix2d((4, 4), k, dtype="float64", index_dtype=mx.int64)
    assert T64.dtype == mx.float64 and T64.index_dtype == mx.int64
    np.testing.assert_array_equal(T64.toarray(), T.toarray())
    # sizes beyond int32 take int64 indices; int32 asked for there is refused, not wrapped
    monkeypatch.setattr(_convolution, "_INT32_MAX", 100)
    assert ms.convolution_matrix2d((4, 5), k).index_dtype == mx.int64
    with pytest.raises(OverflowError, match=r"\[convolve2d\]"):
        ms.convolution_matrix2d((4, 5), k, index_dtype=mx.int32)


def test_int64_paths_against_scipy(monkeypatch):
    """Dense and sparse batches through int64 patterns (sizes past a lowered int32 limit)."""
    monkeypatch.setattr(_convolution, "_INT32_MAX", 50)
    x, k = _images(4, (9, 8), 3, density=0.2), _kernel((3, 2), 4)
    want = _reference(x, k, "same").reshape(4, -1)
    kk = mx.array(k, mx.float32)
    assert_close(ms.convolve2d(mx.array(x.reshape(4, -1), mx.float32), kk, x_shape=(9, 8)), want)
    for idt in (mx.int32, mx.int64):
        xs = ms.csr_array(sp.csr_array(x.reshape(4, -1)), dtype=mx.float32, index_dtype=idt)
        out = ms.convolve2d(xs, kk, x_shape=(9, 8))
        assert out.index_dtype == mx.int64
        assert_close(out.toarray(), want)


def test_zero_kernel_and_zero_images():
    x = _images(3, (6, 7), 5)
    x[1] = 0.0
    zero = mx.zeros((3, 3))
    assert not np.any(np.array(ms.convolve2d(mx.array(x, mx.float32), zero)))
    xs = ms.csr_array(sp.csr_array(x.reshape(3, -1)), dtype=mx.float32)
    assert ms.convolve2d(xs, zero, x_shape=(6, 7)).nnz == 0
    out = ms.convolve2d(xs, mx.ones((2, 2)), "full", x_shape=(6, 7))
    assert out.shape == (3, 7 * 8) and np.array(out.indptr)[1] == np.array(out.indptr)[2]


def test_batch_of_images_and_dtypes():
    """(N, H, W) gives (N, H_out, W_out); float64 x with a float32 kernel stays float64."""
    x, k = _images(2, (5, 6), 6), _kernel((2, 3), 7)
    out = ms.convolve2d(mx.array(x, mx.float32), mx.array(k, mx.float32), "full")
    assert_close(out, _reference(x, k, "full"))
    if not ms.gpu_backend() or mx.default_device() == mx.cpu:
        wide = ms.convolve2d(mx.array(x[0], mx.float64), mx.array(k, mx.float32))
        assert wide.dtype == mx.float64
        assert_close(wide, scipy_convolve2d(x[0], k, "same"), mx.float64)


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match=r"\[convolve2d\] mode must be"):
        ms.convolve2d(mx.zeros((3, 3)), mx.ones((2, 2)), "circular")
    with pytest.raises(ValueError, match=r"\[convolve2d\] the kernel must be"):
        ms.convolve2d(mx.zeros((3, 3)), mx.ones((2,)))
    with pytest.raises(ValueError, match=r"\[convolve2d\] with x_shape=\(3, 3\)"):
        ms.convolve2d(mx.zeros((2, 8)), mx.ones((2, 2)), x_shape=(3, 3))
    with pytest.raises(ValueError, match=r"\[convolve2d\] a sparse x .* pass x_shape"):
        ms.convolve2d(ms.csr_array(np.eye(3)), mx.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\[convolve2d\] x_shape must be positive"):
        ms.convolution_matrix2d((0, 3), mx.ones((2, 2)))


def _dense_conv(x, k, mode):
    """The dense reference: mx.conv2d (a correlation) with the flipped kernel on the image
    padded to the full output, cropped to the mode's window."""
    kH, kW = k.shape
    full = mx.conv2d(x[..., None], k[::-1, ::-1][None, ..., None], padding=(kH - 1, kW - 1))[..., 0]
    (H_out, W_out), (top, left) = _convolution.output_shape(x.shape[1:], k.shape, mode)
    return full[:, top:top + H_out, left:left + W_out]


@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_dense_conv2d(mode):
    x = mx.array(_images(3, (7, 6), 8), mx.float32)
    k, w = mx.array(_kernel((3, 2), 9), mx.float32), None
    w = mx.array(np.random.default_rng(10).uniform(-1, 1, _dense_conv(x, k, mode).shape), mx.float32)

    def ours(x, k):
        return mx.sum(w.reshape(3, -1) * ms.convolve2d(x.reshape(3, -1), k, mode, x_shape=(7, 6)))

    def dense(x, k):
        return mx.sum(w * _dense_conv(x, k, mode))

    got, want = mx.grad(ours, argnums=(0, 1))(x, k), mx.grad(dense, argnums=(0, 1))(x, k)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    # a sparse batch: its values' gradient is the dense gradient at its stored pixels
    xs = ms.csr_array(x.reshape(3, -1))
    coo = xs.tocoo()
    rows, cols = coo.row, coo.col

    def sparse(values, k):
        out = ms.convolve2d(xs.with_data(values), k, mode, x_shape=(7, 6))
        return mx.sum(out.todense() * w.reshape(3, -1))

    gv, gk = mx.grad(sparse, argnums=(0, 1))(xs.data, k)
    assert_close(gv, np.array(want[0]).reshape(3, -1)[np.array(rows), np.array(cols)])
    assert_close(gk, want[1])


def test_gradients_match_finite_differences():
    x, k = mx.array(_images(1, (5, 4), 11)[0]), mx.array(_kernel((2, 3), 12))
    x, k = x.astype(mx.float64), k.astype(mx.float64)
    w = mx.array(np.random.default_rng(13).uniform(-1, 1, (6, 6)), mx.float64)

    def loss(x, k):
        return mx.sum(w * ms.convolve2d(x, k, "full") ** 2)

    gx, gk = mx.grad(loss, argnums=(0, 1))(x, k)
    for grad, arg in ((gx, 0), (gk, 1)):
        base = [np.array(x), np.array(k)]
        fd = np.zeros(base[arg].shape)
        for i in np.ndindex(fd.shape):
            step = [b.copy() for b in base], [b.copy() for b in base]
            step[0][arg][i] += 1e-6
            step[1][arg][i] -= 1e-6
            up, down = (loss(*(mx.array(v, mx.float64) for v in s)).item() for s in step)
            fd[i] = (up - down) / 2e-6
        assert_close(grad, fd, mx.float64, rtol=1e-7)


def test_toeplitz_convolution2d_keeps_the_input_kind():
    """sparse_convolution's semantics: scipy in, csr_matrix out; CSRArray in, CSRArray out;
    numpy in, numpy out; batching=False takes one image; mode may be overridden."""
    x = _images(5, (10, 9), 14, density=0.1).astype(np.float32)  # float32: it runs on a GPU too
    k = _kernel((3, 3), 15).astype(np.float32)
    conv = ms.Toeplitz_convolution2d(x_shape=(10, 9), k=k, mode="same")
    rows = x.reshape(5, -1)
    want = _reference(x, k, "same").reshape(5, -1)
    out = conv(sp.csr_matrix(rows), batching=True)
    assert isinstance(out, sp.csr_matrix)
    assert_close(out.toarray(), want)
    out = conv(ms.csr_array(sp.csr_array(rows), dtype=mx.float32))
    assert isinstance(out, ms.CSRArray)
    assert_close(out.toarray(), want)
    dense = conv(rows.astype(np.float32))
    assert isinstance(dense, np.ndarray)
    assert_close(dense, want)
    one = conv(sp.csr_matrix(x[2]), batching=False, mode="full")
    assert isinstance(one, sp.csr_matrix) and one.shape == (12, 11)
    assert_close(one.toarray(), scipy_convolve2d(x[2], k, "full"))
    one = conv(ms.csr_array(x[3].astype(np.float32)), batching=False)
    assert isinstance(one, ms.CSRArray)
    assert_close(one.toarray(), scipy_convolve2d(x[3], k, "same"))
    assert_close(conv(mx.array(x[4], mx.float32), batching=False), scipy_convolve2d(x[4], k, "same"))
    with pytest.raises(ValueError, match=r"\[convolve2d\] with batching=False"):
        conv(rows, batching=False)
    with pytest.raises(ValueError, match=r"\[convolve2d\] mode 'valid'"):
        ms.Toeplitz_convolution2d((2, 9), k, mode="valid")


def test_toeplitz_convolution2d_matches_sparse_convolution():
    sc = pytest.importorskip("sparse_convolution")
    x, k = _images(6, (12, 11), 16, density=0.1), _kernel((4, 3), 17)
    rows = sp.csr_matrix(x.reshape(6, -1))
    for mode in MODES:
        theirs = sc.Toeplitz_convolution2d((12, 11), k, mode=mode, method="precomputed",
                                           backend="numpy")(rows)
        ours = ms.Toeplitz_convolution2d((12, 11), k.astype(np.float32), mode=mode)(rows)
        assert ours.shape == theirs.shape
        assert_close(ours.toarray(), theirs.toarray())


def _layer_reference(x, weight, bias, mode):
    """(N, C_in, H, W) -> (N, C_out, H_out, W_out) by scipy, summed over input channels."""
    return np.stack([[sum(scipy_convolve2d(image[i], weight[o, i], mode) for i in range(x.shape[1]))
                      + bias[o] for o in range(weight.shape[0])] for image in x])


@pytest.mark.parametrize("channels", [(1, 1), (2, 3)], ids=["single", "multi"])
def test_sparse_conv2d_layer(channels):
    c_in, c_out = channels
    layer = ms.nn.SparseConv2d(c_in, c_out, (3, 2), mode="same")
    layer.bias = mx.array(np.arange(c_out, dtype=np.float32) + 0.5)
    x = _images(4, (c_in, 6, 5), 18, density=0.3)
    weight, bias = to_np(layer.weight), to_np(layer.bias)
    want = _layer_reference(x, weight, bias, "same")
    assert_close(layer(mx.array(x, mx.float32)), want)
    rows = x.reshape(4, -1)
    assert_close(layer(mx.array(rows, mx.float32), x_shape=(6, 5)), want.reshape(4, -1))
    xs = ms.csr_array(sp.csr_array(rows), dtype=mx.float32)
    assert_close(layer(xs, x_shape=(6, 5)), want.reshape(4, -1))  # dense: the bias fills it
    del layer.bias
    out = layer(xs, x_shape=(6, 5))
    assert isinstance(out, ms.CSRArray)
    assert_close(out.toarray(), (want - bias[:, None, None]).reshape(4, -1))

    # a training step's gradients equal those of the dense reference (mx.conv2d per channel pair)
    layer.bias = mx.zeros((c_out,))
    target = mx.array(np.random.default_rng(19).uniform(-1, 1, want.shape), mx.float32)

    def loss(model, x):
        return mx.mean((model(x) - target) ** 2)

    def dense_loss(weight, bias, x):
        y = mx.stack([sum(_dense_conv(x[:, i], weight[o, i], "same") for i in range(c_in))
                      + bias[o] for o in range(c_out)], axis=1)
        return mx.mean((y - target) ** 2)

    xx = mx.array(x, mx.float32)
    _, grads = nn.value_and_grad(layer, loss)(layer, xx)
    gw, gb = mx.grad(dense_loss, argnums=(0, 1))(layer.weight, layer.bias, xx)
    assert_close(grads["weight"], gw)
    assert_close(grads["bias"], gb)


def test_sparse_conv2d_zero_kernel_learns_from_sparse_images():
    """The layer keeps exact zeros in a sparse output, so a zero kernel gets its gradient."""
    layer = ms.nn.SparseConv2d(1, 1, 3, bias=False)
    layer.weight = mx.zeros((1, 1, 3, 3))
    x = _images(2, (6, 6), 20, density=0.3)
    xs = ms.csr_array(sp.csr_array(x.reshape(2, -1)), dtype=mx.float32)
    target = mx.array(np.random.default_rng(21).uniform(-1, 1, (2, 36)), mx.float32)
    _, grads = nn.value_and_grad(layer, lambda m: mx.sum(m(xs, x_shape=(6, 6)).todense() * target))(layer)
    images = mx.array(x, mx.float32)
    want = mx.grad(lambda w: mx.sum(_dense_conv(images, w, "same") * target.reshape(2, 6, 6)))(
        mx.zeros((3, 3)))
    assert np.any(np.array(want)) and layer(xs, x_shape=(6, 6)).nnz > 0
    assert_close(grads["weight"][0, 0], want)


def test_sparse_conv2d_bad_input():
    layer = ms.nn.SparseConv2d(2, 1, 3)
    with pytest.raises(ValueError, match=r"\[SparseConv2d\] expected images \(N, 2, H, W\)"):
        layer(mx.zeros((4, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"\[convolve2d\] mode must be"):
        ms.nn.SparseConv2d(1, 1, 3, mode="circular")
