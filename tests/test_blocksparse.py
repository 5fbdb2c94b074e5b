"""mlx_sparse.blocksparse (blksprs's API on MLX ops) against dense numpy references in float64:
every op after a to_dense(to_sparse(x)) round trip, over shapes, block sizes, layouts (empty,
random, full) and odd batch sizes; gradients against mx.grad of the dense reference."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse.blocksparse as bs
from conftest import DENSE_RTOL, RTOL, to_mx

F32_RTOL = DENSE_RTOL or RTOL[mx.float32]  # blocks multiply through mx.matmul

# (batch, row blocks, inner blocks, column blocks) x block size
GRID = [(1, 1, 1, 1, 2), (3, 2, 3, 4, 2), (2, 3, 2, 1, 4), (5, 4, 3, 2, 4), (1, 2, 2, 3, 16),
        (3, 2, 1, 2, 16), (2, 2, 2, 2, 32), (1, 1, 3, 1, 32)]
GRID_IDS = [f"B{b}-{m}x{k}x{n}-bs{s}" for b, m, k, n, s in GRID]
SPARSITY = ["empty", "random", "full"]
DTYPES = [mx.float32, mx.float16, mx.bfloat16]
DTYPE_IDS = ["f32", "f16", "bf16"]
grid = pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
sparsity = pytest.mark.parametrize("kind", SPARSITY)


def layout(rng, shape, kind, density=0.5):
    if kind == "empty":
        return np.zeros(shape, bool)
    if kind == "full":
        return np.ones(shape, bool)
    out = rng.random(shape) < density
    if out.size:
        out.reshape(-1)[0] = True  # never empty by accident
    return out


def expand(lay, size):
    """The element mask of a layout."""
    return np.repeat(np.repeat(lay, size, axis=1), size, axis=2)


def dense(rng, shape):
    x = rng.uniform(-1, 1, shape)
    x[np.abs(x) < 0.05] += 0.25
    return x


def np_of(a):
    return np.array(a.astype(mx.float32)).astype(np.float64)


def blocks_ref(x, lay, size):
    """The compressed form, by a plain loop over the layout in row-major order."""
    return np.stack([x[b, i * size:(i + 1) * size, j * size:(j + 1) * size]
                     for b, i, j in np.argwhere(lay)] or [np.zeros((size, size))])[:lay.sum()]


# ---- conversions

@grid
@sparsity
def test_to_sparse_to_dense_round_trip(case, kind):
    b, m, _, n, s = case
    rng = np.random.default_rng(1)
    x = dense(rng, (b, m * s, n * s))
    lay = layout(rng, (b, m, n), kind)
    xs = bs.to_sparse(to_mx(x), mx.array(lay), s)
    assert xs.shape == (lay.sum(), s, s)
    np.testing.assert_allclose(np_of(xs).reshape(-1), blocks_ref(x, lay, s).reshape(-1), rtol=1e-6)
    back = np_of(bs.to_dense(xs, mx.array(lay), s))
    np.testing.assert_allclose(back, np.where(expand(lay, s), x, 0), rtol=1e-6)
    filled = np_of(bs.to_dense(xs, lay.astype(np.int32), s, fill_value=-np.inf))
    assert np.all(np.isneginf(filled[~expand(lay, s)]))
    np.testing.assert_allclose(filled[expand(lay, s)], x[expand(lay, s)], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_conversion_gradients_and_dtypes(dtype):
    rng = np.random.default_rng(2)
    lay = layout(rng, (3, 2, 3), "random")
    x = to_mx(dense(rng, (3, 8, 12)), dtype)
    w = to_mx(dense(rng, (3, 8, 12)), dtype)
    assert bs.to_sparse(x, mx.array(lay), 4).dtype == dtype
    g = mx.grad(lambda v: (bs.to_dense(bs.to_sparse(v, mx.array(lay), 4), mx.array(lay), 4) * w).sum())(x)
    np.testing.assert_allclose(np_of(g), np.where(expand(lay, 4), np_of(w), 0), rtol=1e-6)


@pytest.mark.parametrize("bs_from,bs_to", [(4, 2), (2, 4), (4, 8), (8, 4), (4, 4), (2, 6)])
def test_adapt_layout(bs_from, bs_to):
    rng = np.random.default_rng(3)
    size = 24 if 6 in (bs_from, bs_to) else 16
    x = dense(rng, (3, size, size))
    x[0, :bs_from, :] = 0  # a zero stretch the adapted layout must leave out where it can
    lay = layout(rng, (3, size // bs_from, size // bs_from), "random", 0.6)
    xs = bs.to_sparse(to_mx(x), mx.array(lay), bs_from)
    kept = np.where(expand(lay, bs_from), x, 0)
    out, lay_to = bs.adapt_layout(xs, mx.array(lay), bs_from, bs_to)
    want_layout = np.abs(kept).reshape(3, size // bs_to, bs_to, size // bs_to, bs_to).max(axis=(2, 4)) > 0
    np.testing.assert_array_equal(np.array(lay_to), want_layout)
    np.testing.assert_array_equal(np.array(bs.layouting.build_sparsity_layout_adaption(
        xs, mx.array(lay), bs_from, bs_to)), want_layout)
    np.testing.assert_allclose(np_of(bs.to_dense(out, lay_to, bs_to)), kept, rtol=1e-6)
    # an explicit target layout: values outside it are dropped, new blocks hold 0
    target = layout(rng, want_layout.shape, "random", 0.5)
    out2, lay2 = bs.adapt_layout(xs, mx.array(lay), bs_from, bs_to, mx.array(target))
    np.testing.assert_array_equal(np.array(lay2), target)
    np.testing.assert_allclose(np_of(bs.to_dense(out2, lay2, bs_to)),
                               np.where(expand(target, bs_to), kept, 0), rtol=1e-6)
    g = mx.grad(lambda v: bs.adapt_layout(v, mx.array(lay), bs_from, bs_to, mx.array(target))[0].sum())(xs)
    np.testing.assert_allclose(np_of(bs.to_dense(g, mx.array(lay), bs_from)),
                               (expand(target, bs_to) & expand(lay, bs_from)).astype(float))


# ---- layouts

def test_layout_builders():
    rng = np.random.default_rng(4)
    x = dense(rng, (3, 8, 12))
    x[1, 4:8, 0:4] = 0
    x[2, 0:4, :] = 0
    lay = np.array(bs.layouting.build_sparsity_layout(to_mx(x), 4))
    assert lay.dtype == np.bool_ and lay.shape == (3, 2, 3)
    assert lay.sum() == 18 - 1 - 3 and not lay[1, 1, 0] and not lay[2, 0].any()
    full = np.array(bs.layouting.build_sparsity_layout_full(to_mx(x), 2))
    assert full.shape == (3, 4, 6) and full.all()
    lx, ly = layout(rng, (3, 4, 5), "random", 0.3), layout(rng, (3, 5, 2), "random", 0.3)
    exact = np.array(bs.layouting.build_sparsity_layout_matmul(mx.array(lx), mx.array(ly)))
    np.testing.assert_array_equal(exact, (lx.astype(int) @ ly.astype(int)) > 0)
    fast = np.array(bs.layouting.build_sparsity_layout_matmul_fast(mx.array(lx), mx.array(ly)))
    np.testing.assert_array_equal(fast, lx.any(-1)[:, :, None] | ly.any(-2)[:, None, :])
    assert np.all(fast >= exact)
    causal = np.array(bs.layouting.build_causal_layout(2, 5))
    assert causal.shape == (2, 5, 5) and (causal == np.tril(np.ones((5, 5), bool))).all()
    sw = np.array(bs.layouting.build_sliding_window_layout(3, 8, 1, global_blocks=1))
    i = np.arange(8)
    want = (np.abs(i[:, None] - i[None]) <= 1) | (i[:, None] == 0) | (i[None] == 0)
    assert sw.shape == (3, 8, 8) and (sw == want).all()
    assert (np.array(bs.layouting.build_sliding_window_layout(1, 4, 0)) == np.eye(4, dtype=bool)).all()


# ---- matmul

def _matmul_case(case, kinds, seed, dtype=mx.float32):
    b, m, k, n, s = case
    rng = np.random.default_rng(seed)
    lx, ly, lo = (layout(rng, sh, kd) for sh, kd in zip(((b, m, k), (b, k, n), (b, m, n)), kinds))
    x, y = dense(rng, (b, m * s, k * s)), dense(rng, (b, k * s, n * s))
    xs = bs.to_sparse(to_mx(x, dtype), mx.array(lx), s)
    ys = bs.to_sparse(to_mx(y, dtype), mx.array(ly), s)
    xd, yd = np_of(bs.to_dense(xs, mx.array(lx), s)), np_of(bs.to_dense(ys, mx.array(ly), s))
    return lx, ly, lo, xs, ys, xd, yd


@grid
@pytest.mark.parametrize("kinds", [("random", "random", "random"), ("full", "full", "full"),
                                   ("empty", "random", "random"), ("random", "full", "empty"),
                                   ("full", "random", "full")], ids=lambda k: "-".join(k))
def test_matmul(case, kinds):
    s = case[-1]
    lx, ly, lo, xs, ys, xd, yd = _matmul_case(case, kinds, 5)
    out = bs.matmul(xs, mx.array(lx), ys, mx.array(ly), mx.array(lo), s)
    assert out.shape == (lo.sum(), s, s)
    want = np.where(expand(lo, s), xd @ yd, 0)
    scale = max(1.0, float((np.abs(xd) @ np.abs(yd)).max(initial=0.0)))
    np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(lo), s)), want, rtol=F32_RTOL,
                               atol=F32_RTOL * scale)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [(3, 4, 5, 3, 4), (2, 2, 3, 2, 16)], ids=["bs4", "bs16"])
def test_matmul_dtypes_and_gradient(case, dtype):
    s = case[-1]
    lx, ly, lo, xs, ys, xd, yd = _matmul_case(case, ("random",) * 3, 6, dtype)
    out = bs.matmul(xs, mx.array(lx), ys, mx.array(ly), mx.array(lo), s)
    assert out.dtype == dtype
    want = np.where(expand(lo, s), xd @ yd, 0)
    scale = np.abs(xd) @ np.abs(yd)
    got = np_of(bs.to_dense(out, mx.array(lo), s))
    rtol = F32_RTOL if dtype == mx.float32 else RTOL[dtype]
    assert np.all(np.abs(got - want) <= rtol * scale + 1e-6)
    if dtype != mx.float32:
        return
    w = to_mx(np.random.default_rng(7).uniform(-1, 1, want.shape))
    mo, mxk, myk = (to_mx(expand(l, s).astype(float)) for l in (lo, lx, ly))

    def sparse_loss(a, c):
        return (bs.to_dense(bs.matmul(a, mx.array(lx), c, mx.array(ly), mx.array(lo), s),
                            mx.array(lo), s) * w).sum()

    def dense_loss(a, c):
        return ((((a * mxk) @ (c * myk)) * mo) * w).sum()

    gx, gy = mx.grad(sparse_loss, argnums=(0, 1))(xs, ys)
    dx, dy = mx.grad(dense_loss, argnums=(0, 1))(to_mx(xd), to_mx(yd))
    for got, ref, lay in ((gx, dx, lx), (gy, dy, ly)):
        np.testing.assert_allclose(np_of(got), np_of(bs.to_sparse(ref, mx.array(lay), s)),
                                   rtol=F32_RTOL, atol=F32_RTOL * s)


def test_matmul_uneven_rows_use_several_groups():
    """Output blocks with 1, 2, 3 and 7 products (padding to 1, 2, 4, 8) and none at all."""
    s, k = 2, 7
    lx = np.zeros((1, 5, k), bool)
    lx[0, 0, :1] = lx[0, 1, :2] = lx[0, 2, :3] = lx[0, 3, :] = True  # row 4 has no block
    ly = np.ones((1, k, 2), bool)
    lo = np.ones((1, 5, 2), bool)
    rng = np.random.default_rng(8)
    x = np.where(expand(lx, s), dense(rng, (1, 5 * s, k * s)), 0)
    y = dense(rng, (1, k * s, 2 * s))
    out = bs.matmul(bs.to_sparse(to_mx(x), mx.array(lx), s), mx.array(lx),
                    bs.to_sparse(to_mx(y), mx.array(ly), s), mx.array(ly), mx.array(lo), s)
    np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(lo), s)), x @ y, rtol=1e-5, atol=1e-6)


# ---- softmax

def softmax_ref(xd, lay, s):
    mask = expand(lay, s)
    z = np.where(mask, xd, -np.inf)
    peak = np.max(z, axis=-1, keepdims=True)
    e = np.where(mask, np.exp(z - np.where(np.isfinite(peak), peak, 0)), 0)
    total = e.sum(-1, keepdims=True)
    return np.where(mask, e / np.where(total > 0, total, 1), 0)


@grid
@sparsity
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "regular"])
def test_softmax(case, kind, fused):
    b, m, _, n, s = case
    rng = np.random.default_rng(9)
    lay = layout(rng, (b, m, n), kind)
    x = dense(rng, (b, m * s, n * s)) * 30  # large values: needs the max shift
    xs = bs.to_sparse(to_mx(x), mx.array(lay), s)
    out = bs.softmax(xs, mx.array(lay), s, flag_fused=fused)
    assert out.shape == xs.shape
    got = np_of(bs.to_dense(out, mx.array(lay), s))
    np.testing.assert_allclose(got, softmax_ref(np_of(bs.to_dense(xs, mx.array(lay), s)), lay, s),
                               rtol=1e-5, atol=1e-6)
    rows = expand(lay, s).any(-1)
    np.testing.assert_allclose(got.sum(-1)[rows], 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [(3, 3, 1, 4, 2), (2, 2, 1, 3, 16)], ids=["bs2", "bs16"])
def test_softmax_dtypes_and_gradient(case, dtype):
    b, m, _, n, s = case
    rng = np.random.default_rng(10)
    lay = layout(rng, (b, m, n), "random")
    lay[0, -1] = False  # an empty block row
    xs = bs.to_sparse(to_mx(dense(rng, (b, m * s, n * s)) * 4, dtype), mx.array(lay), s)
    xd = np_of(bs.to_dense(xs, mx.array(lay), s))
    out = bs.softmax(xs, mx.array(lay), s)
    assert out.dtype == dtype
    np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(lay), s)), softmax_ref(xd, lay, s),
                               atol=4 * RTOL[dtype], rtol=0)
    if dtype != mx.float32:
        return
    w = to_mx(rng.uniform(-1, 1, xd.shape))
    mask = mx.array(expand(lay, s))

    def sparse_loss(v):
        return (bs.to_dense(bs.softmax(v, mx.array(lay), s), mx.array(lay), s) * w).sum()

    def dense_loss(v):
        p = mx.softmax(mx.where(mask, v, -mx.inf), axis=-1)
        return mx.where(mask, p * w, 0).sum()

    g = mx.grad(sparse_loss)(xs)
    d = mx.grad(dense_loss)(to_mx(xd))
    d = mx.where(mask, d, 0)  # rows with no block are nan in the dense reference, stored nowhere
    np.testing.assert_allclose(np_of(g), np_of(bs.to_sparse(d, mx.array(lay), s)), rtol=1e-5, atol=1e-6)


# ---- transpose

@grid
@sparsity
def test_transpose(case, kind):
    b, m, _, n, s = case
    rng = np.random.default_rng(11)
    lay = layout(rng, (b, m, n), kind)
    xs = bs.to_sparse(to_mx(dense(rng, (b, m * s, n * s))), mx.array(lay), s)
    xt, lt = bs.transpose(xs, mx.array(lay), s)
    np.testing.assert_array_equal(np.array(lt), lay.transpose(0, 2, 1))
    np.testing.assert_allclose(np_of(bs.to_dense(xt, lt, s)),
                               np_of(bs.to_dense(xs, mx.array(lay), s)).transpose(0, 2, 1))
    w = mx.array(np.random.default_rng(1).uniform(size=xt.shape).astype(np.float32))
    g = mx.grad(lambda v: (bs.transpose(v, mx.array(lay), s)[0] * w).sum())(xs)
    back, _ = bs.transpose(w, lt, s)
    np.testing.assert_allclose(np_of(g), np_of(back))


# ---- misc

@grid
@sparsity
@pytest.mark.parametrize("slice_only", [False, True], ids=["block", "slice"])
def test_row_wise_sum_max(case, kind, slice_only):
    b, m, _, n, s = case
    rng = np.random.default_rng(12)
    lay = layout(rng, (b, m, n), kind)
    xs = bs.to_sparse(to_mx(dense(rng, (b, m * s, n * s))), mx.array(lay), s)
    xd, mask = np_of(bs.to_dense(xs, mx.array(lay), s)), expand(lay, s)
    rows = lay.any(-1, keepdims=True)
    for fn, ref, rest in ((bs.misc.row_wise_sum, np.where(mask, xd, 0).sum(-1), 0.0),
                          (bs.misc.row_wise_max, np.where(mask, xd, -np.inf).max(-1), -np.inf)):
        out, lay_out = fn(xs, mx.array(lay), s, flag_slice_only=slice_only)
        np.testing.assert_array_equal(np.array(lay_out), rows)
        assert out.shape == (rows.sum(), s, 1 if slice_only else s)
        got = np_of(out)
        want = ref.reshape(b, m, s)[rows[..., 0]]  # (n_rows, bs)
        np.testing.assert_allclose(got[:, :, 0], want, rtol=1e-5, atol=1e-6)
        if not slice_only:
            assert np.all(got[:, :, 1:] == rest)


@pytest.mark.parametrize("case", [(3, 3, 1, 4, 2), (2, 2, 1, 3, 16)], ids=["bs2", "bs16"])
def test_row_wise_add_sub_and_gradients(case):
    b, m, _, n, s = case
    rng = np.random.default_rng(13)
    lay = layout(rng, (b, m, n), "random")
    lay[-1, 0] = False
    xs = bs.to_sparse(to_mx(dense(rng, (b, m * s, n * s))), mx.array(lay), s)
    xd, mask = np_of(bs.to_dense(xs, mx.array(lay), s)), expand(lay, s)
    for slice_only in (False, True):
        sums, _ = bs.misc.row_wise_sum(xs, mx.array(lay), s, flag_slice_only=slice_only)
        rowsum = np.where(mask, xd, 0).sum(-1, keepdims=True)
        added = np_of(bs.to_dense(bs.misc.row_wise_add(xs, mx.array(lay), sums, s), mx.array(lay), s))
        np.testing.assert_allclose(added, np.where(mask, xd + rowsum, 0), rtol=1e-5, atol=1e-5)
        sub = np_of(bs.to_dense(bs.misc.row_wise_sub(xs, mx.array(lay), sums, s), mx.array(lay), s))
        np.testing.assert_allclose(sub, np.where(mask, xd - rowsum, 0), rtol=1e-5, atol=1e-5)
    # the row-wise ops differentiate: d/dx sum(x - rowmax) is 1 - (count of the row) at the argmax
    maxes, _ = bs.misc.row_wise_max(xs, mx.array(lay), s, flag_slice_only=True)
    g = mx.grad(lambda v: bs.misc.row_wise_max(v, mx.array(lay), s, True)[0].sum())(xs)
    gd = np_of(bs.to_dense(g, mx.array(lay), s))
    masked = np.where(mask, xd, -np.inf)
    argmax = masked == masked.max(-1, keepdims=True)
    np.testing.assert_allclose(gd, np.where(mask & argmax, 1.0, 0.0))
    g = mx.grad(lambda v: (bs.misc.row_wise_sum(v, mx.array(lay), s, True)[0] ** 2).sum())(xs)
    rowsum = np.where(mask, xd, 0).sum(-1, keepdims=True)
    np.testing.assert_allclose(np_of(bs.to_dense(g, mx.array(lay), s)), np.where(mask, 2 * rowsum, 0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", SPARSITY)
@pytest.mark.parametrize("b,m,n,s", [(1, 4, 4, 2), (3, 3, 5, 4), (2, 2, 2, 16)])
def test_broadcast_add_sub(b, m, n, s, kind):
    rng = np.random.default_rng(14)
    lay = layout(rng, (b, m, n), kind)
    x, y = dense(rng, (b, m * s)), dense(rng, (b, n * s))
    for fn, want in ((bs.misc.broadcast_add, x[:, :, None] + y[:, None, :]),
                     (bs.misc.broadcast_sub, x[:, :, None] - y[:, None, :])):
        out = fn(to_mx(x), to_mx(y), mx.array(lay), s)
        assert out.shape == (lay.sum(), s, s)
        np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(lay), s)),
                                   np.where(expand(lay, s), want, 0), rtol=1e-6, atol=1e-6)


# ---- API surface and errors

def test_blksprs_paths_and_shape_utils():
    assert bs.ops.matmul is bs.matmul and bs.ops.to_sparse is bs.to_sparse
    assert bs.ops.misc.row_wise_sum is bs.misc.row_wise_sum
    assert bs.ops.softmax_fused is not None and bs.to_blksprs is bs.to_sparse
    import mlx_sparse as ms
    assert ms.blocksparse is bs and "blocksparse" in dir(ms)
    x = mx.zeros((2, 3, 8, 4))
    x3, shape = bs.utils.do_shape_blocksparse(x)
    assert x3.shape == (6, 8, 4) and shape == (2, 3, 8, 4)
    assert bs.utils.undo_shape_blocksparse(x3, shape).shape == (2, 3, 8, 4)


def test_errors_name_the_op():
    lay = mx.ones((2, 2, 2), dtype=mx.bool_)
    x = mx.zeros((2, 8, 8))
    xs = bs.to_sparse(x, lay, 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.to_sparse\] block size 3 should divide"):
        bs.to_sparse(x, lay, 3)
    with pytest.raises(ValueError, match=r"\[blocksparse.to_sparse\] sparsity_layout should have shape \(2, 4, 4\)"):
        bs.to_sparse(x, lay, 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.to_dense\] x should be compressed with shape \(n_blocks=8"):
        bs.to_dense(xs[:3], lay, 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.to_dense\] sparsity_layout should be 3-D"):
        bs.to_dense(xs, mx.ones((2, 2)), 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.softmax\] sparsity_layout should hold only 0 and 1"):
        bs.softmax(xs, mx.full((2, 2, 2), 2), 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.matmul\] the layouts of x \(2, 2, 2\) and y \(2, 3, 2\) do not chain"):
        bs.matmul(xs, lay, mx.zeros((12, 4, 4)), mx.ones((2, 3, 2)), lay, 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.matmul\] sparsity_layout_output should have shape"):
        bs.matmul(xs, lay, xs, lay, mx.ones((2, 2, 3)), 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.matmul\] sparsity_block_size should be a positive int"):
        bs.matmul(xs, lay, xs, lay, lay, 0)
    with pytest.raises(ValueError, match=r"\[blocksparse.transpose\] x should be floating point"):
        bs.transpose(xs.astype(mx.int32), lay, 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.row_wise_add\] y should be compressed in x's row-wise layout"):
        bs.misc.row_wise_add(xs, lay, mx.zeros((3, 4, 1)), 4)
    with pytest.raises(ValueError, match=r"\[blocksparse.adapt_layout\] sparsity_block_size_to 3 should divide"):
        bs.adapt_layout(xs, lay, 4, 3)
    with pytest.raises(ValueError, match=r"\[blocksparse.build_sliding_window_layout\] window should be"):
        bs.layouting.build_sliding_window_layout(1, 4, -1)


# ---- repeat, repeat_interleave, split, merge

def _structure_case(seed, shape=(3, 2, 4), s=2, kind="random"):
    rng = np.random.default_rng(seed)
    lay = layout(rng, shape, kind)
    xs = bs.to_sparse(to_mx(dense(rng, (shape[0], shape[1] * s, shape[2] * s))), mx.array(lay), s)
    return lay, xs, np_of(bs.to_dense(xs, mx.array(lay), s))


@pytest.mark.parametrize("kind", SPARSITY)
@pytest.mark.parametrize("s", [2, 16])
@pytest.mark.parametrize("repeats", [(1, 1, 1), (2, 1, 3), (1, 2, 1), (0, 1, 1)])
def test_repeat(repeats, s, kind):
    lay, xs, xd = _structure_case(15, s=s, kind=kind)
    out, lo = bs.repeat(xs, mx.array(lay), repeats, s)
    np.testing.assert_array_equal(np.array(lo), np.tile(lay, repeats))
    np.testing.assert_allclose(np_of(bs.to_dense(out, lo, s)), np.tile(xd, repeats))
    target = layout(np.random.default_rng(1), np.tile(lay, repeats).shape, "random")
    out, lo = bs.repeat(xs, mx.array(lay), repeats, s, sparsity_layout_output=mx.array(target))
    np.testing.assert_array_equal(np.array(lo), np.tile(lay, repeats) & target)
    np.testing.assert_allclose(np_of(bs.to_dense(out, lo, s)),
                               np.where(expand(target, s), np.tile(xd, repeats), 0))


@pytest.mark.parametrize("r", [0, 1, 3])
def test_repeat_interleave_and_gradient(r):
    lay, xs, xd = _structure_case(16)
    out, lo = bs.repeat_interleave(xs, mx.array(lay), r, 2)
    np.testing.assert_array_equal(np.array(lo), np.repeat(lay, r, axis=0))
    np.testing.assert_allclose(np_of(bs.to_dense(out, lo, 2)), np.repeat(xd, r, axis=0))
    g = mx.grad(lambda v: bs.repeat_interleave(v, mx.array(lay), r, 2)[0].sum())(xs)
    np.testing.assert_allclose(np_of(g), np.full(xs.shape, float(r)))


@pytest.mark.parametrize("kind", SPARSITY)
@pytest.mark.parametrize("p", [1, 2, 4])
def test_split_merge(p, kind):
    lay, xs, xd = _structure_case(17, shape=(3, 2, 4), s=4, kind=kind)
    b, m, n = xd.shape
    out, lo = bs.split(xs, mx.array(lay), p, -1, 4)
    want = xd.reshape(b, m, p, n // p).transpose(0, 2, 1, 3).reshape(b * p, m, n // p)
    np.testing.assert_allclose(np_of(bs.to_dense(out, lo, 4)), want)
    back, lb = bs.merge(out, lo, p, -1, 4)
    np.testing.assert_array_equal(np.array(lb), lay)
    np.testing.assert_allclose(np_of(back), np_of(xs))
    w = mx.array(np.random.default_rng(2).uniform(size=out.shape).astype(np.float32))
    g = mx.grad(lambda v: (bs.split(v, mx.array(lay), p, -1, 4)[0] * w).sum())(xs)
    np.testing.assert_allclose(np_of(g), np_of(bs.merge(w, lo, p, -1, 4)[0]))


def test_structure_errors():
    lay, xs, _ = _structure_case(18)
    with pytest.raises(ValueError, match=r"\[blocksparse.split\] only the last dimension"):
        bs.split(xs, mx.array(lay), 2, 1, 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.split\] partitions should be an int >= 1 dividing the 4"):
        bs.split(xs, mx.array(lay), 3, -1, 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.merge\] partitions should be an int >= 1 dividing the batch of 3"):
        bs.merge(xs, mx.array(lay), 2, -1, 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.repeat\] repeats should be three ints"):
        bs.repeat(xs, mx.array(lay), (1, 2), 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.repeat\] sparsity_layout_output should have shape \(6, 2, 4\)"):
        bs.repeat(xs, mx.array(lay), (2, 1, 1), 2, sparsity_layout_output=mx.array(lay))


# ---- gather, scatter, scatter_reduce

def _distribution_case(dim, s, seed):
    rng = np.random.default_rng(seed)
    src_shape = (3, 2, 3)
    idx_shape = list(src_shape)
    idx_shape[dim] = 2 if dim == 0 else 4  # idx may be longer or shorter than src along dim
    ls, li = layout(rng, src_shape, "random", 0.6), layout(rng, tuple(idx_shape), "random", 0.6)
    src = bs.to_sparse(to_mx(dense(rng, (3, 2 * s, 3 * s))), mx.array(ls), s)
    extent = src_shape[0] if dim == 0 else src_shape[dim] * s
    dense_idx = rng.integers(0, extent, (idx_shape[0], idx_shape[1] * s, idx_shape[2] * s))
    idx = bs.to_sparse(mx.array(dense_idx.astype(np.float32)), mx.array(li), s).astype(mx.int32)
    return ls, li, src, idx, np.where(expand(li, s), dense_idx, 0)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("s", [2, 4])
def test_gather_and_gradient(dim, s):
    ls, li, src, idx, dense_idx = _distribution_case(dim % 3, s, 19)
    xd = np_of(bs.to_dense(src, mx.array(ls), s))
    out = bs.gather(src, mx.array(ls), dim, idx, mx.array(li), s)
    shape = [max(a, b) for a, b in zip(xd.shape, dense_idx.shape)]
    pad = np.zeros(shape)
    pad[:xd.shape[0], :xd.shape[1], :xd.shape[2]] = xd  # take_along_axis wants equal other dims
    want = np.take_along_axis(pad, dense_idx, axis=dim)[:dense_idx.shape[0], :dense_idx.shape[1], :dense_idx.shape[2]]
    np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(li), s)), np.where(expand(li, s), want, 0))
    w = mx.array(np.random.default_rng(3).uniform(size=out.shape).astype(np.float32))
    g = mx.grad(lambda v: (bs.gather(v, mx.array(ls), dim, idx, mx.array(li), s) * w).sum())(src)
    # the gradient of gather is scatter_reduce (sum) of the cotangent, as in blksprs
    back = bs.scatter_reduce(w, mx.array(li), dim, idx, mx.array(ls), s)
    np.testing.assert_allclose(np_of(g), np_of(back), rtol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_scatter_reduce_and_scatter(dim):
    s = 2
    rng = np.random.default_rng(20)
    lt, ls, src, idx, dense_idx = _distribution_case(dim, s, 21)  # src in idx's layout
    src = bs.to_sparse(to_mx(dense(rng, (ls.shape[0], ls.shape[1] * s, ls.shape[2] * s))), mx.array(ls), s)
    sd = np_of(bs.to_dense(src, mx.array(ls), s))
    target = np.zeros((lt.shape[0], lt.shape[1] * s, lt.shape[2] * s))
    b, r, q = np.nonzero(expand(ls, s))
    coords = [b, r, q]
    coords[dim] = dense_idx[b, r, q]
    np.add.at(target, tuple(coords), sd[b, r, q])
    out = bs.scatter_reduce(src, mx.array(ls), dim, idx, mx.array(lt), s, reduce_op="sum")
    np.testing.assert_allclose(np_of(bs.to_dense(out, mx.array(lt), s)),
                               np.where(expand(lt, s), target, 0), rtol=1e-5, atol=1e-6)
    # without reduction, positions written once hold the element; untouched ones hold 0
    hits = np.zeros(target.shape, int)
    np.add.at(hits, tuple(coords), 1)
    got = np_of(bs.to_dense(bs.scatter(src, mx.array(ls), dim, idx, mx.array(lt), s), mx.array(lt), s))
    once = (hits == 1) & expand(lt, s)
    np.testing.assert_allclose(got[once], target[once])
    assert np.all(got[(hits == 0)] == 0)


def test_distribution_errors():
    ls, li, src, idx, _ = _distribution_case(2, 2, 22)
    with pytest.raises(ValueError, match=r"\[blocksparse.gather\] idx should be an integer"):
        bs.gather(src, mx.array(ls), 2, idx.astype(mx.float32), mx.array(li), 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.gather\] idx values should lie in \[0, 6\)"):
        bs.gather(src, mx.array(ls), 2, idx + 100, mx.array(li), 2)
    with pytest.raises(ValueError, match=r"\[blocksparse.scatter_reduce\] reduce_op should be"):
        bs.scatter_reduce(src, mx.array(ls), 2, idx, mx.array(ls), 2, reduce_op="max")
