"""convolve2d of CSRArray images through its direct CPU kernel (csr_convolve2d) and host
symbolic pass, against the SpGEMM with the Toeplitz matrix (X @ T^T) and scipy: shapes that
take the vector and the scalar paths, multi-word bitmaps, channels, dtypes, int64 indices,
non-canonical input, inf, and the transforms (jvp, vmap, compile, second derivatives)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.signal import convolve2d as scipy_convolve2d

import mlx_sparse as ms
from mlx_sparse import _convolution, _ext
from conftest import assert_close


def _batch(n, shape, density, seed, channels=1):
    """A scipy CSR batch (n, channels * H * W) of float32-exact values, a row of it full."""
    rng = np.random.default_rng(seed)
    width = channels * shape[0] * shape[1]
    x = sp.random(n, width, density=density, random_state=rng, format="csr", dtype=np.float64)
    x = x.toarray()
    x[0] = rng.uniform(-1, 1, width)  # one full row: every run of the kernel is whole
    return sp.csr_array(x.astype(np.float32).astype(np.float64))


def _kernel(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _toeplitz_product(x, k, mode, x_shape):
    """X @ T^T with ms's own SpGEMM: the path the direct kernel replaces."""
    T = ms.convolution_matrix2d(x_shape, k, mode)
    return (x @ T.T).toarray()


# (image, kernel, mode): kernel widths on both sides of the 16-lane vector path, images wider
# than one 64-bit bitmap word, kernels larger than the image, one-pixel images
CASES = [
    ((10, 10), (5, 5), "same"), ((9, 13), (3, 4), "full"), ((12, 70), (3, 16), "same"),
    ((8, 40), (2, 17), "full"), ((7, 30), (5, 24), "valid"), ((5, 131), (4, 3), "same"),
    ((3, 4), (6, 7), "full"), ((1, 1), (2, 2), "same"), ((16, 16), (1, 1), "valid"),
    ((6, 65), (3, 64), "same"),
]


@pytest.mark.parametrize("x_shape,k_shape,mode", CASES)
@pytest.mark.parametrize("density", [0.02, 0.3])
def test_direct_kernel_matches_the_toeplitz_product_and_scipy(x_shape, k_shape, mode, density):
    x = _batch(5, x_shape, density, hash((x_shape, k_shape)) % 1000)
    k = _kernel(k_shape, 1)
    xs, kk = ms.csr_array(x, dtype=mx.float32), mx.array(k)
    out = ms.convolve2d(xs, kk, mode, x_shape=x_shape)
    assert out.has_canonical_format and not np.any(np.array(out.data) == 0)
    want = np.stack([scipy_convolve2d(r.reshape(x_shape), k.astype(np.float64), mode).ravel()
                     for r in x.toarray()])
    assert_close(out.toarray(), want)
    assert_close(out.toarray(), _toeplitz_product(xs, kk, mode, x_shape))


@pytest.mark.parametrize("channels", [(2, 1), (1, 3), (3, 2)])
def test_channels(channels):
    c_out, c_in = channels
    x_shape = (7, 9)
    x = _batch(4, x_shape, 0.1, 3, c_in)
    k = _kernel((c_out, c_in, 3, 2), 4)
    out = ms.convolve2d(ms.csr_array(x, dtype=mx.float32), mx.array(k), "full", x_shape=x_shape)
    images = x.toarray().reshape(4, c_in, *x_shape)
    want = np.stack([
        np.stack([sum(scipy_convolve2d(images[n, i], k[o, i].astype(np.float64), "full")
                      for i in range(c_in)) for o in range(c_out)]).ravel()
        for n in range(4)])
    assert_close(out.toarray(), want)


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16, mx.float64])
def test_dtypes(dtype):
    if dtype == mx.float64 and mx.default_device() != mx.cpu:
        pytest.skip("MLX has no float64 on the GPU")
    x_shape = (11, 12)
    x, k = _batch(3, x_shape, 0.2, 5), _kernel((3, 5), 6)
    xs = ms.csr_array(x, dtype=dtype)
    out = ms.convolve2d(xs, mx.array(k).astype(dtype), "same", x_shape=x_shape)
    assert out.dtype == dtype
    rounded = [np.array(a.astype(mx.float32), np.float64)
               for a in (xs.todense(), mx.array(k).astype(dtype))]
    want = np.stack([scipy_convolve2d(r.reshape(x_shape), rounded[1], "same").ravel()
                     for r in rounded[0]])
    assert_close(out.toarray(), want, dtype)


def test_int64_indices():
    x_shape = (9, 8)
    x, k = _batch(4, x_shape, 0.2, 7), _kernel((4, 3), 8)
    xs = ms.csr_array(x, dtype=mx.float32, index_dtype=mx.int64)
    out = ms.convolve2d(xs, mx.array(k), "same", x_shape=x_shape)
    assert out.index_dtype == mx.int64
    assert_close(out.toarray(), _toeplitz_product(ms.csr_array(x, dtype=mx.float32), mx.array(k),
                                                  "same", x_shape))


def test_non_canonical_input():
    """Duplicates add up and unsorted rows are fine: the kernel scatters every stored entry."""
    x_shape = (6, 7)
    x = _batch(3, x_shape, 0.3, 9)
    rows = np.repeat(np.arange(3), np.diff(x.indptr))
    order = np.random.default_rng(10).permutation(x.nnz)
    half = x.data / 2  # each entry twice, halves, shuffled
    coo = sp.coo_array((np.concatenate([half, half])[np.r_[order, order]],
                        (np.r_[rows, rows][np.r_[order, order]],
                         np.r_[x.indices, x.indices][np.r_[order, order]])), shape=x.shape)
    data, cols = coo.data, coo.col
    perm = np.argsort(coo.row, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(coo.row, minlength=3))]
    xs = ms.CSRArray(mx.array(data[perm], mx.float32), mx.array(cols[perm].astype(np.int32)),
                     mx.array(indptr.astype(np.int32)), x.shape)
    assert not xs.has_canonical_format
    k = _kernel((3, 3), 11)
    out = ms.convolve2d(xs, mx.array(k), "same", x_shape=x_shape)
    want = ms.convolve2d(ms.csr_array(x, dtype=mx.float32), mx.array(k), "same", x_shape=x_shape)
    assert_close(out.toarray(), want.toarray())


def test_inf_reaches_only_its_neighbourhood():
    """The vector path multiplies whole lanes: lanes past the kernel row must not turn an inf
    pixel into NaN anywhere, and pixels it does not reach stay finite."""
    x_shape = (8, 20)
    x = np.zeros((2, 160), np.float32)
    x[0, 3 * 20 + 5] = np.inf
    x[1, 10] = 1.0
    k = np.abs(_kernel((3, 3), 12)) + 0.5
    out = ms.convolve2d(ms.csr_array(x), mx.array(k), "same", x_shape=x_shape).toarray()
    reach = scipy_convolve2d((x[0] != 0).reshape(x_shape).astype(float), np.ones((3, 3)), "same")
    assert np.all(np.isposinf(out[0][reach.ravel() > 0]))
    assert not np.any(np.isnan(out))


def test_transforms():
    """jvp, vmap over the values, mx.compile and the gradient of a gradient, against the
    dense convolution through the Toeplitz matrix."""
    x_shape = (6, 8)
    x, k = _batch(3, x_shape, 0.3, 13), mx.array(_kernel((3, 3), 14))
    xs = ms.csr_array(x, dtype=mx.float32)
    T = ms.convolution_matrix2d(x_shape, k)

    def ours(v, k):
        return ms.convolve2d(xs.with_data(v), k, x_shape=x_shape).todense()

    def dense(v, k):
        return xs.with_data(v).todense() @ ms.convolution_matrix2d(x_shape, k).todense().T

    v = xs.data
    dv, dk = mx.ones_like(v), mx.array(_kernel((3, 3), 15))
    got = mx.jvp(ours, (v, k), (dv, dk))[1][0]
    assert_close(got, mx.jvp(dense, (v, k), (dv, dk))[1][0])
    batch = mx.stack([v, 2 * v, -v])
    assert_close(mx.vmap(lambda b: ours(b, k))(batch), mx.vmap(lambda b: dense(b, k))(batch))
    assert_close(mx.compile(ours)(v, k), dense(v, k))
    assert_close(mx.compile(ours)(2 * v, k), dense(2 * v, k))

    def second(f):  # d/dk of |d loss / d v|^2 with a loss quadratic in the output
        inner = mx.grad(lambda v, k: mx.sum(f(v, k) ** 2))
        return mx.grad(lambda k: mx.sum(inner(v, k) ** 2))(k)

    assert_close(second(ours), second(dense), rtol=1e-4)
    del T


def test_symbolic_pass_bad_input_names_the_op():
    xs = ms.csr_array(sp.random(2, 12, density=0.5, random_state=1, format="csr"))
    with pytest.raises(ValueError, match=r"\[csr_convolve2d\]"):
        _ext.csr_convolve2d_symbolic(xs.indptr, xs.indices, [3, 4, 3, 4, 1, 1, 3, 3])
    with pytest.raises(ValueError, match=r"\[csr_convolve2d\]"):
        _ext.csr_convolve2d_symbolic(xs.indptr, xs.indices, [3, 4, 3, 4, -1, 1, 3, 3, 1, 1])
    with pytest.raises(ValueError, match=r"\[csr_convolve2d\]"):
        _ext.csr_convolve2d(xs.indptr, xs.indices, xs.data, mx.ones((3, 3)), xs.indptr,
                            xs.indices, xs.indices, xs.indptr, xs.indices, [3, 4, 3, 4, 1])


def test_dense_output():
    """dense_output=True: the same numbers as the sparse result, dense, with the values'
    gradient; x_shape is still required."""
    x_shape = (7, 8)
    x, k = _batch(3, x_shape, 0.2, 16), mx.array(_kernel((3, 2), 17))
    xs = ms.csr_array(x, dtype=mx.float32)
    dense = ms.convolve2d(xs, k, "full", x_shape=x_shape, dense_output=True)
    assert isinstance(dense, mx.array) and dense.shape == (3, 9 * 9)
    assert_close(dense, ms.convolve2d(xs, k, "full", x_shape=x_shape).toarray())
    # the GPU's form (SpMM on X^T made dense), run here too
    assert_close(_convolution._dense_by_spmm(xs, k, "full", x_shape, None), dense)
    w = mx.array(np.random.default_rng(18).uniform(-1, 1, dense.shape), mx.float32)

    def loss(v, k, dense_output):
        out = ms.convolve2d(xs.with_data(v), k, "full", x_shape=x_shape, dense_output=dense_output)
        return mx.sum(w * (out if dense_output else out.todense()))

    got = mx.grad(loss, argnums=(0, 1))(xs.data, k, True)
    want = mx.grad(loss, argnums=(0, 1))(xs.data, k, False)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    with pytest.raises(ValueError, match=r"\[convolve2d\] a sparse x .* pass x_shape"):
        ms.convolve2d(xs, k, dense_output=True)

