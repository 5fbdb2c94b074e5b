"""blocksparse.flash_attention against dense references: numpy (float64) with -inf outside the
layout and where masked, mx.fast.scaled_dot_product_attention with an additive mask, and
mx.grad of a dense MLX reference; both forms (dense and blksprs's compressed one)."""

import math

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse.blocksparse as bs
from conftest import DENSE_RTOL, RTOL, to_mx

# (batch, query blocks, key blocks, d, dv, block size)
GRID = [(1, 1, 1, 8, 8, 2), (3, 2, 3, 4, 6, 4), (2, 4, 4, 16, 16, 16), (1, 3, 2, 32, 16, 16),
        (2, 2, 2, 32, 32, 32), (1, 2, 1, 64, 64, 64)]
GRID_IDS = [f"B{b}-{m}x{n}-d{d}-dv{dv}-bs{s}" for b, m, n, d, dv, s in GRID]
grid = pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
DTYPES = [mx.float32, mx.float16, mx.bfloat16]
F32_RTOL = DENSE_RTOL or 1e-5


def expand(lay, size):
    return np.repeat(np.repeat(lay, size, axis=-2), size, axis=-1)


def make_layout(rng, shape, kind):
    if kind == "full":
        return np.ones(shape, bool)
    if kind == "empty_rows":
        out = rng.random(shape) < 0.5
        out[..., 0, :] = False
        return out
    if kind == "window":
        m, n = shape[-2:]
        i, j = np.indices((m, n))
        return np.broadcast_to((np.abs(i - j) <= 1) | (j == 0), shape).copy()
    return rng.random(shape) < 0.5


def reference(q, k, v, keep, scale, bias=None):
    """float64 numpy: softmax over the kept scores; rows with nothing kept give 0."""
    s = scale * q @ np.swapaxes(k, -1, -2)
    if bias is not None:
        s = s + bias
    s = np.where(keep, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isinf(m), 0, m))
    t = e.sum(axis=-1, keepdims=True)
    return (e @ v) / np.where(t > 0, t, 1)


def mlx_reference(q, k, v, keep, scale, bias=None):
    """The same in MLX ops, for mx.grad (keep is a numpy bool array)."""
    s = scale * (q @ k.swapaxes(-1, -2))
    if bias is not None:
        s = s + bias
    keep = mx.array(keep)
    s = mx.where(keep, s, -mx.inf)
    m = mx.stop_gradient(s.max(axis=-1, keepdims=True))
    e = mx.exp(s - mx.where(m == -mx.inf, 0.0, m))
    t = e.sum(axis=-1, keepdims=True)
    return (e @ v) / mx.where(t > 0, t, 1.0)


def qkv(rng, case, dtype=mx.float32):
    b, m, n, d, dv, s = case
    arrays = [rng.standard_normal(shape) for shape in ((b, m * s, d), (b, n * s, d), (b, n * s, dv))]
    return [to_mx(a, dtype) for a in arrays], [np.array(to_mx(a, dtype).astype(mx.float32),
                                                        dtype=np.float64) for a in arrays]


@grid
@pytest.mark.parametrize("kind", ["random", "full", "empty_rows", "window"])
def test_dense_form_against_numpy(case, kind):
    rng = np.random.default_rng(0)
    b, m, n, d, dv, s = case
    lay = make_layout(rng, (b, m, n), kind)
    (q, k, v), (qn, kn, vn) = qkv(rng, case)
    out = bs.flash_attention(q, k, v, mx.array(lay))
    assert out.shape == (b, m * s, dv) and out.dtype == mx.float32
    want = reference(qn, kn, vn, expand(lay, s), 1 / math.sqrt(d))
    np.testing.assert_allclose(np.array(out), want, rtol=F32_RTOL, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
def test_dtypes(dtype):
    rng = np.random.default_rng(1)
    case = (2, 3, 3, 16, 8, 16)
    lay = make_layout(rng, (2, 3, 3), "random")
    (q, k, v), (qn, kn, vn) = qkv(rng, case, dtype)
    out = bs.flash_attention(q, k, v, lay, scale=0.3)
    assert out.dtype == dtype
    want = reference(qn, kn, vn, expand(lay, 16), 0.3)
    tol = F32_RTOL if dtype == mx.float32 else RTOL[dtype]
    np.testing.assert_allclose(np.array(out.astype(mx.float32)), want, rtol=tol, atol=tol)


def test_against_sdpa_with_additive_mask_and_four_dims():
    rng = np.random.default_rng(2)
    b, h, lq, lk, d = 2, 3, 32, 48, 16
    q = to_mx(rng.standard_normal((b, h, lq, d)))
    k = to_mx(rng.standard_normal((b, h, lk, d)))
    v = to_mx(rng.standard_normal((b, h, lk, d)))
    add = to_mx(rng.standard_normal((lq, lk)))
    full = np.ones((lq // 16, lk // 16), bool)
    got = bs.flash_attention(q, k, v, full, mask=add)
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(d), mask=add)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=F32_RTOL, atol=1e-5)
    # a sparse layout is the additive mask with -inf outside it; per-head layouts (B, H, ...)
    lay = make_layout(rng, (b, h, lq // 16, lk // 16), "window")
    minus = np.where(expand(lay, 16), 0, -np.inf).astype(np.float32)
    got = bs.flash_attention(q, k, v, lay, mask=add)
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(d),
                                                mask=add + mx.array(minus))
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=F32_RTOL, atol=1e-5)
    # a bool mask (True = attend), shared across heads, broadcast over the query rows
    keys = rng.random((b, 1, 1, lk)) < 0.7
    got = bs.flash_attention(q, k, v, lay, mask=mx.array(keys))
    want = reference(*(np.array(x, np.float64) for x in (q, k, v)), expand(lay, 16) & keys,
                     1 / math.sqrt(d))
    np.testing.assert_allclose(np.array(got), want, rtol=F32_RTOL, atol=1e-5)


@pytest.mark.parametrize("case", [GRID[1], GRID[2], GRID[4]], ids=[GRID_IDS[1], GRID_IDS[2], GRID_IDS[4]])
def test_gradients_against_dense_reference(case):
    rng = np.random.default_rng(3)
    b, m, n, d, dv, s = case
    lay = make_layout(rng, (b, m, n), "empty_rows")
    (q, k, v), _ = qkv(rng, case)
    bias = to_mx(rng.standard_normal((b, m * s, n * s)))
    w = to_mx(rng.standard_normal((b, m * s, dv)))
    keep = expand(lay, s)

    def sparse(q, k, v, bias):
        return (bs.flash_attention(q, k, v, lay, mask=bias) * w).sum()

    def dense(q, k, v, bias):
        return (mlx_reference(q, k, v, keep, 1 / math.sqrt(d), bias) * w).sum()

    got = mx.grad(sparse, argnums=(0, 1, 2, 3))(q, k, v, bias)
    want = mx.grad(dense, argnums=(0, 1, 2, 3))(q, k, v, bias)
    for g, r in zip(got, want):
        assert np.isfinite(np.array(g)).all()
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=10 * F32_RTOL, atol=1e-5)
    # rows with nothing to attend to get exactly 0, value and gradient
    assert not np.array(got[0])[:, :s][~lay[:, 0].any(-1)].any()


def test_gradients_finite_differences():
    rng = np.random.default_rng(4)
    lay = make_layout(rng, (1, 2, 2), "random")
    (q, k, v), _ = qkv(rng, (1, 2, 2, 4, 4, 2))
    f = lambda q: (bs.flash_attention(q, k, v, lay, scale=0.7) ** 2).sum()  # noqa: E731
    g = np.array(mx.grad(f)(q))
    eps = 1e-2
    for idx in [(0, 0, 0), (0, 1, 2), (0, 3, 3)]:
        dq = np.zeros(q.shape, np.float32)
        dq[idx] = eps
        fd = (f(q + mx.array(dq)).item() - f(q - mx.array(dq)).item()) / (2 * eps)
        assert abs(fd - g[idx]) <= 2e-2 * max(1.0, abs(fd))


@pytest.mark.parametrize("case", [(1, 2, 2, 4, 4, 2), (1, 2, 2, 16, 16, 16)], ids=["bs2", "bs16"])
def test_second_derivative_runs(case):
    rng = np.random.default_rng(5)
    (q, k, v), _ = qkv(rng, case)
    lay = make_layout(rng, (1, 2, 2), "full")

    def hvp(fused):
        inner = mx.grad(lambda x: bs.flash_attention(x, k, v, lay, fused=fused).sum() ** 2)
        return mx.grad(lambda q: (inner(q) ** 2).sum())(q)

    assert np.isfinite(np.array(hvp(False))).all()
    if case[-1] == 16:  # the fused primitive's backward differentiates again (its vjp)
        fused, plain = np.array(hvp(True)), np.array(hvp(False))
        # float32 sums in two orders: an entry far below the array's scale (~1e3) differs by
        # ~1e-4 of its own size on the GPU, so the absolute slack follows the scale
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-6 * np.abs(plain).max())


def test_compile_with_closed_layout():
    rng = np.random.default_rng(6)
    lay = make_layout(rng, (2, 2, 2), "window")
    (q, k, v), _ = qkv(rng, (2, 2, 2, 8, 8, 4))
    fn = mx.compile(lambda q, k, v: bs.flash_attention(q, k, v, lay))
    np.testing.assert_allclose(np.array(fn(q, k, v)), np.array(bs.flash_attention(q, k, v, lay)),
                               rtol=1e-6, atol=1e-6)


def compressed(x, s):
    """A dense (B, L, d) tensor as blksprs's compressed form over a full layout."""
    lay = np.ones((x.shape[0], x.shape[1] // s, x.shape[2] // s), bool)
    return bs.to_sparse(x, mx.array(lay), s), mx.array(lay)


@pytest.mark.parametrize("s", [4, 16])
def test_compressed_form_with_mask_and_bias(s):
    rng = np.random.default_rng(7)
    b, m, n, d = 3, 3, 2, 2 * s
    (q, k, v), (qn, kn, vn) = qkv(rng, (b, m, n, d, d, s))
    (qs, lq), (ks, lk), (vs, lv) = compressed(q, s), compressed(k, s), compressed(v, s)
    att = make_layout(rng, (b, m, n), "empty_rows")
    lm = make_layout(rng, (b, m, n), "random")
    mask_dense = rng.random((b, m * s, n * s)) < 0.2  # True = masked (blksprs)
    mask = bs.to_sparse(to_mx(mask_dense.astype(float)), mx.array(lm), s)  # 1.0 = masked
    lb = make_layout(rng, (b, m, n), "random")
    bias_dense = rng.standard_normal((b, m * s, n * s))
    bias = bs.to_sparse(to_mx(bias_dense), mx.array(lb), s)
    out = bs.ops.flash_attention(qs, lq, ks, lk, vs, lv, mx.array(att), s, scale=0.5,
                                 attention_mask=mask, sparsity_layout_mask=mx.array(lm),
                                 attention_bias=bias, sparsity_layout_bias=mx.array(lb))
    lo = bs.layouting.build_sparsity_layout_matmul(mx.array(att), lv)
    got = np.array(bs.to_dense(out, lo, s))
    keep = expand(att, s) & ~(expand(lm, s) & mask_dense)
    want = reference(qn, kn, vn, keep, 0.5, np.where(expand(lb, s), bias_dense, 0))
    want = np.where(expand(np.array(lo), s), want, 0)
    np.testing.assert_allclose(got, want, rtol=F32_RTOL, atol=1e-5)
    as_bool = bs.ops.flash_attention(qs, lq, ks, lk, vs, lv, mx.array(att), s, scale=0.5,
                                     attention_mask=mask.astype(mx.bool_),
                                     sparsity_layout_mask=mx.array(lm), attention_bias=bias,
                                     sparsity_layout_bias=mx.array(lb))
    np.testing.assert_array_equal(np.array(as_bool), np.array(out))
    assert bs.flash_attention_build_lut(att)["attention_layout"].shape == att.shape

    # gradients to the compressed q, k, v and bias
    def loss(qs, ks, vs, bias):
        o = bs.flash_attention(qs, lq, ks, lk, vs, lv, att, s, 0.5, mask, lm, bias, lb)
        return (o ** 2).sum()

    grads = mx.grad(loss, argnums=(0, 1, 2, 3))(qs, ks, vs, bias)

    def dense_loss(q, k, v, bias_c):
        bd = bs.to_dense(bias_c, mx.array(lb), s)
        return (mlx_reference(q, k, v, keep, 0.5, bd) ** 2).sum()

    want = mx.grad(dense_loss, argnums=(0, 1, 2, 3))(q, k, v, bias)
    for g, r, lay in zip(grads, want, (lq, lk, lv)):
        np.testing.assert_allclose(np.array(bs.to_dense(g, lay, s)), np.array(r),
                                   rtol=10 * F32_RTOL, atol=1e-5)
    np.testing.assert_allclose(np.array(grads[3]), np.array(want[3]), rtol=10 * F32_RTOL, atol=1e-5)


def test_compressed_form_output_layout_and_sparse_inputs():
    rng = np.random.default_rng(8)
    s, b = 4, 2
    q = to_mx(rng.standard_normal((b, 12, 8)))
    k = to_mx(rng.standard_normal((b, 8, 8)))
    v = to_mx(rng.standard_normal((b, 8, 8)))
    lq = make_layout(rng, (b, 3, 2), "random")  # absent q blocks are zeros
    qs = bs.to_sparse(q, mx.array(lq), s)
    (ks, lk), (vs, lv) = compressed(k, s), compressed(v, s)
    att = make_layout(rng, (b, 3, 2), "full")
    lo = make_layout(rng, (b, 3, 2), "random")
    out = bs.flash_attention(qs, lq, ks, lk, vs, lv, att, s, sparsity_layout_o=lo)
    assert out.shape == (int(lo.sum()), s, s)
    qz = np.where(expand(lq, s), np.array(q, np.float64), 0)
    want = reference(qz, np.array(k, np.float64), np.array(v, np.float64), expand(att, s),
                     1 / math.sqrt(8))
    np.testing.assert_allclose(np.array(bs.to_dense(out, lo, s)),
                               np.where(expand(lo, s), want, 0), rtol=F32_RTOL, atol=1e-5)


def test_errors():
    rng = np.random.default_rng(9)
    (q, k, v), _ = qkv(rng, (1, 2, 2, 4, 4, 4))
    lay = np.ones((1, 2, 2), bool)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] .*tile the scores"):
        bs.flash_attention(q, k, v, np.ones((1, 3, 2), bool))
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] .*do not fit"):
        bs.flash_attention(q, k[:, :, :2], v, lay)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] .*floating"):
        bs.flash_attention(q.astype(mx.int32), k, v, lay)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] mask .*broadcast"):
        bs.flash_attention(q, k, v, lay, mask=mx.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] mask should be bool"):
        bs.flash_attention(q, k, v, lay, mask=mx.zeros((8, 8), mx.int32))
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] scale"):
        bs.flash_attention(q, k, v, lay, scale="x")
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] attention_layout"):
        bs.flash_attention(q, k, v, np.ones((2, 2, 2, 2), bool))
    (qs, lq), (ks, lk), (vs, lv) = compressed(q, 4), compressed(k, 4), compressed(v, 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] attention_mask and"):
        bs.flash_attention(qs, lq, ks, lk, vs, lv, lay, 4, attention_mask=qs)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] attention_layout should have"):
        bs.flash_attention(qs, lq, ks, lk, vs, lv, np.ones((1, 2, 3), bool), 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.flash_attention\] attention_bias should be"):
        bs.flash_attention(qs, lq, ks, lk, vs, lv, lay, 4, attention_bias=qs[:1],
                           sparsity_layout_bias=lay)


@pytest.mark.parametrize("fused", [False, None], ids=["ops", "default"])
def test_return_lse_against_numpy_and_its_gradient(fused):
    """return_lse=True: the scores' log-sum-exp, -inf for a row with nothing kept, shaped
    like q without d; a loss through o and lse differentiates as the dense one does."""
    rng = np.random.default_rng(12)
    case = (2, 2, 3, 16, 8, 16)
    b, m, n, d, dv, s = case
    (q, k, v), (qn, kn, vn) = qkv(rng, case)
    lay = make_layout(rng, (b, m, n), "empty_rows")
    keep = expand(lay, s)
    o, lse = bs.flash_attention(q, k, v, lay, return_lse=True, fused=fused)
    assert o.shape == (b, m * s, dv) and lse.shape == (b, m * s) and lse.dtype == mx.float32
    sc = np.where(keep, qn @ np.swapaxes(kn, -1, -2) / math.sqrt(d), -np.inf)
    top = sc.max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(np.exp(sc - np.where(np.isinf(top), 0, top)[..., None]).sum(-1)) + top
    got = np.array(lse)
    assert np.array_equal(np.isneginf(got), np.isneginf(want)) and np.isneginf(got).any()
    live = np.isfinite(want)
    np.testing.assert_allclose(got[live], want[live], rtol=F32_RTOL, atol=1e-5)
    np.testing.assert_allclose(np.array(o), reference(qn, kn, vn, keep, 1 / math.sqrt(d)),
                               rtol=F32_RTOL, atol=1e-5)
    # 4-D input: lse is (B, H, L)
    o4, lse4 = bs.flash_attention(q[None], k[None], v[None], lay, return_lse=True, fused=fused)
    assert lse4.shape == (1, b, m * s)
    np.testing.assert_array_equal(np.array(lse4[0]), got)
    w = mx.array(rng.standard_normal((b, m * s, dv)).astype(np.float32))
    live_mx = mx.array(live)

    def sparse(q, k, v):
        o, lse = bs.flash_attention(q, k, v, lay, return_lse=True, fused=fused)
        return (o * w).sum() + mx.where(live_mx, lse, 0.0).sum()

    def dense(q, k, v):
        sc = mx.where(mx.array(keep), (q @ k.swapaxes(-1, -2)) / math.sqrt(d), -mx.inf)
        lse = mx.logsumexp(mx.where(live_mx[..., None], sc, 0.0), axis=-1)
        return (mlx_reference(q, k, v, keep, 1 / math.sqrt(d)) * w).sum() + mx.where(live_mx, lse, 0.0).sum()

    got_g = mx.grad(sparse, argnums=(0, 1, 2))(q, k, v)
    want_g = mx.grad(dense, argnums=(0, 1, 2))(q, k, v)
    for g, r in zip(got_g, want_g):
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=10 * F32_RTOL, atol=1e-5)
