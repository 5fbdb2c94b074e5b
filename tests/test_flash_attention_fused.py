"""The fused flash_attention primitive (FlashAttention / FlashAttentionGrad, CPU kernels) against
a float64 numpy reference with -inf outside the layout, against mx.grad of a dense MLX
reference, and against the MLX-op path (fused=False); lse and the op's validation through
mlx_sparse._ext.flash_attention."""

import math

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
import mlx_sparse.blocksparse as bs
from mlx_sparse import _ext
from mlx_sparse.blocksparse._attention import _block_csr, _key
from test_flash_attention import expand, mlx_reference, qkv, reference

# (batch, query blocks, key blocks, d, dv, block size): d 8/64/128, dv != d, odd batches
CASES = [(1, 2, 3, 8, 8, 16), (3, 2, 2, 64, 32, 32), (2, 2, 3, 128, 128, 16),
         (1, 2, 2, 64, 64, 64), (3, 3, 2, 16, 24, 16)]
CASE_IDS = [f"B{b}-{m}x{n}-d{d}-dv{dv}-bs{s}" for b, m, n, d, dv, s in CASES]
cases = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
# absolute tolerances of outputs O(1): float32 kernels vs float64, 16-bit outputs rounded
ATOL = {mx.float32: 2e-5, mx.float16: 4e-3, mx.bfloat16: 3e-2}
GRAD_ATOL = {mx.float32: 5e-5, mx.float16: 5e-3, mx.bfloat16: 6e-2}
DTYPES = [mx.float32, mx.float16, mx.bfloat16]


def layout_of(rng, shape, kind):
    b, m, n = shape
    if kind == "causal":
        return np.array(bs.layouting.build_causal_layout(b, max(m, n)))[:, :m, :n]
    if kind == "window":
        return np.array(bs.layouting.build_sliding_window_layout(b, max(m, n), 1))[:, :m, :n]
    out = rng.random(shape) < 0.6
    if kind == "empty_rows":  # batch 0's first block row empty, the rest not all empty
        out[0, 0, :] = False
        out[-1, -1, :] = False
        out[0, -1, 0] = True
    return out


def check(got, want, dtype, atol=None):
    got = np.array(got.astype(mx.float32), dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol or ATOL[dtype])


@cases
@pytest.mark.parametrize("kind", ["random", "empty_rows", "causal", "window"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_against_numpy_and_ops(case, kind, dtype):
    rng = np.random.default_rng(1)
    (q, k, v), (qn, kn, vn) = qkv(rng, case, dtype)
    b, m, n, d, _, s = case
    lay = layout_of(rng, (b, m, n), kind)
    got = bs.flash_attention(q, k, v, lay, fused=True)
    assert got.dtype == dtype
    check(got, reference(qn, kn, vn, expand(lay, s), 1 / math.sqrt(d)), dtype)
    ops = bs.flash_attention(q, k, v, lay, fused=False)
    check(got, np.array(ops.astype(mx.float32), dtype=np.float64), dtype)
    if kind == "empty_rows":  # rows with no block: exactly 0
        assert not np.array(got[0, :s].astype(mx.float32)).any()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", [CASES[1], CASES[4]], ids=[CASE_IDS[1], CASE_IDS[4]])
def test_bool_mask_and_additive_bias(case, dtype):
    rng = np.random.default_rng(2)
    (q, k, v), (qn, kn, vn) = qkv(rng, case, dtype)
    b, m, n, d, _, s = case
    lay = layout_of(rng, (b, m, n), "random")
    keep = expand(lay, s)
    attend = rng.random((b, m * s, n * s)) < 0.7
    attend[0, :3] = False  # whole rows masked inside present blocks: 0 as well
    got = bs.flash_attention(q, k, v, lay, mask=mx.array(attend), scale=0.3, fused=True)
    want = reference(qn, kn, vn, keep & attend, 0.3)
    check(got, want, dtype)
    assert not np.array(got[0, :3].astype(mx.float32)).any()
    bias = mx.array(rng.standard_normal((b, m * s, n * s))).astype(dtype)
    bias_n = np.array(bias.astype(mx.float32), dtype=np.float64)
    got = bs.flash_attention(q, k, v, lay, mask=bias, fused=True)
    check(got, reference(qn, kn, vn, keep, 1 / math.sqrt(d), bias_n), dtype)


@cases
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gradients_against_dense_reference(case, dtype):
    rng = np.random.default_rng(3)
    (q, k, v), _ = qkv(rng, case, dtype)
    b, m, n, d, dv, s = case
    lay = layout_of(rng, (b, m, n), "empty_rows")
    keep = expand(lay, s)
    bias = mx.array(rng.standard_normal((b, m * s, n * s))).astype(dtype)
    w = mx.array(rng.standard_normal((b, m * s, dv))).astype(mx.float32)

    def sparse(q, k, v, bias):
        return (bs.flash_attention(q, k, v, lay, mask=bias, fused=True).astype(mx.float32) * w).sum()

    def dense(q, k, v, bias):
        f32 = [x.astype(mx.float32) for x in (q, k, v, bias)]
        return (mlx_reference(*f32[:3], keep, 1 / math.sqrt(d), f32[3]) * w).sum()

    got = mx.grad(sparse, argnums=(0, 1, 2, 3))(q, k, v, bias)
    want = mx.grad(dense, argnums=(0, 1, 2, 3))(q, k, v, bias)
    for g, r in zip(got, want):
        assert g.dtype == dtype
        check(g, np.array(r.astype(mx.float32), dtype=np.float64), dtype, GRAD_ATOL[dtype])
    # outside the layout and in rows with nothing to attend to: exactly 0
    assert not np.array(got[3].astype(mx.float32))[~keep].any()
    assert not np.array(got[0][0, :s].astype(mx.float32)).any()
    assert np.abs(np.array(want[0].astype(mx.float32))).max() > 0.1  # not a vacuous comparison


def fused_op(q, k, v, lay, s, scale, bias=None, mask=None):
    return _ext.flash_attention(q, k, v, *_block_csr(*_key(lay)), s, scale, bias,
                                mask)


def test_lse_and_a_loss_through_it():
    rng = np.random.default_rng(4)
    case = (3, 2, 3, 16, 8, 16)
    (q, k, v), (qn, kn, _) = qkv(rng, case)
    b, m, n, d, dv, s = case
    lay = layout_of(rng, (b, m, n), "empty_rows")
    keep = expand(lay, s)
    n_blocks = int(lay.sum())
    masked = rng.random((n_blocks, s, s)) < 0.2
    mask = mx.array(masked.astype(np.uint8))
    bias = mx.array(rng.standard_normal((n_blocks, s, s)).astype(np.float32))
    o, lse = fused_op(q, k, v, lay, s, 0.5, bias, mask)
    assert lse.dtype == mx.float32 and lse.shape == (b, m * s)
    # the bias and mask blocks laid out densely, in the layout's storage order
    full_bias = np.zeros((b, m * s, n * s))
    full_keep = np.zeros((b, m * s, n * s), bool)
    for e, (bb, i, j) in enumerate(zip(*np.nonzero(lay))):
        full_bias[bb, i * s:(i + 1) * s, j * s:(j + 1) * s] = np.array(bias[e])
        full_keep[bb, i * s:(i + 1) * s, j * s:(j + 1) * s] = ~masked[e]
    assert (full_keep <= keep).all()
    sc = np.where(full_keep, 0.5 * qn @ np.swapaxes(kn, -1, -2) + full_bias, -np.inf)
    top = sc.max(axis=-1)
    with np.errstate(divide="ignore"):
        want = np.log(np.exp(sc - np.where(np.isinf(top), 0, top)[..., None]).sum(-1)) + \
            np.where(np.isinf(top), 0, top)
    got = np.array(lse)
    assert np.array_equal(np.isinf(got), np.isinf(want)) and (got[np.isinf(got)] < 0).all()
    live = np.isfinite(want)
    np.testing.assert_allclose(got[live], want[live], rtol=1e-5, atol=1e-5)
    w = mx.array(rng.standard_normal((b, m * s, dv)).astype(np.float32))
    keep_mx = mx.array(full_keep)

    def fused_loss(q, k, v, bias):
        o, lse = fused_op(q, k, v, lay, s, 0.5, bias, mask)
        return (o * w).sum() + mx.where(mx.isinf(lse), 0.0, lse).sum()

    def dense_loss(q, k, v, full):
        sc = mx.where(keep_mx, 0.5 * (q @ k.swapaxes(-1, -2)) + full, -mx.inf)
        top = mx.stop_gradient(sc.max(axis=-1, keepdims=True))
        top = mx.where(top == -mx.inf, 0.0, top)
        e = mx.exp(sc - top)
        t = e.sum(axis=-1, keepdims=True)
        o = (e @ v) / mx.where(t > 0, t, 1.0)
        lse = mx.where(t[..., 0] > 0, mx.log(mx.where(t > 0, t, 1.0))[..., 0] + top[..., 0], 0.0)
        return (o * w).sum() + lse.sum()

    got = mx.grad(fused_loss, argnums=(0, 1, 2, 3))(q, k, v, bias)
    want = mx.grad(dense_loss, argnums=(0, 1, 2, 3))(q, k, v, mx.array(full_bias.astype(np.float32)))
    for g, r in zip(got[:3], want[:3]):
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-4, atol=1e-4)
    dbias = np.array(want[3])
    for e, (bb, i, j) in enumerate(zip(*np.nonzero(lay))):
        np.testing.assert_allclose(np.array(got[3][e]), dbias[bb, i * s:(i + 1) * s, j * s:(j + 1) * s],
                                   rtol=1e-4, atol=1e-5)


def test_compile_and_grad_under_compile():
    rng = np.random.default_rng(6)
    case = (2, 3, 3, 16, 16, 16)
    (q, k, v), _ = qkv(rng, case)
    lay = layout_of(rng, case[:3], "causal")
    fn = mx.compile(lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True))
    np.testing.assert_allclose(np.array(fn(q, k, v)), np.array(bs.flash_attention(q, k, v, lay, fused=True)),
                               rtol=1e-6, atol=1e-6)
    loss = lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True).square().sum()  # noqa: E731
    got = mx.compile(mx.grad(loss, argnums=(0, 1, 2)))(q, k, v)
    want = mx.grad(lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=False).square().sum(),
                   argnums=(0, 1, 2))(q, k, v)
    for g, r in zip(got, want):
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-4, atol=1e-5)


def test_traced_layout_arrays_under_compile():
    # the layout as traced inputs (not checked on the host): the same result
    rng = np.random.default_rng(11)
    lay = rng.random((2, 3, 4)) < 0.5
    csr = _block_csr(*_key(lay))
    (q, k, v), _ = qkv(rng, (2, 3, 4, 16, 8, 16))
    fn = lambda q, k, v, *layout: _ext.flash_attention(q, k, v, *layout, 16, 0.25)  # noqa: E731
    for a, b in zip(fn(q, k, v, *csr), mx.compile(fn)(q, k, v, *csr)):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_one_thread_and_two_agree():
    rng = np.random.default_rng(7)
    case = (3, 8, 8, 64, 64, 16)
    (q, k, v), _ = qkv(rng, case)
    lay = layout_of(rng, case[:3], "random")
    run = lambda: mx.grad(lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True).square().sum(),  # noqa: E731
                          argnums=(0, 1, 2))(q, k, v) + (bs.flash_attention(q, k, v, lay, fused=True),)
    before = ms.num_threads()
    try:
        ms.set_num_threads(1)
        one = [np.array(x) for x in run()]
        ms.set_num_threads(2)
        two = [np.array(x) for x in run()]
    finally:
        ms.set_num_threads(before)
    for a, b in zip(one, two):  # each output has one writer: the same bits
        np.testing.assert_array_equal(a, b)


def test_compressed_form_fused_against_ops():
    rng = np.random.default_rng(8)
    b, m, n, d, s = 2, 3, 2, 32, 16
    lq = np.ones((b, m, d // s), bool)
    lk = np.ones((b, n, d // s), bool)
    att = layout_of(rng, (b, m, n), "empty_rows")
    q, k, v = (mx.array(rng.standard_normal((int(lay.sum()), s, s)).astype(np.float32))
               for lay in (lq, lk, lk))
    lm = rng.random((b, m, n)) < 0.5
    mask = mx.array(rng.random((int(lm.sum()), s, s)) < 0.3)
    lb = rng.random((b, m, n)) < 0.5
    bias = mx.array(rng.standard_normal((int(lb.sum()), s, s)).astype(np.float32))

    def run(fused, q, bias):
        return bs.flash_attention(q, mx.array(lq), k, mx.array(lk), v, mx.array(lk), mx.array(att), s,
                                  attention_mask=mask, sparsity_layout_mask=mx.array(lm),
                                  attention_bias=bias, sparsity_layout_bias=mx.array(lb), fused=fused)

    np.testing.assert_allclose(np.array(run(True, q, bias)), np.array(run(False, q, bias)),
                               rtol=1e-5, atol=1e-5)
    grads = [mx.grad(lambda q, bias: run(f, q, bias).square().sum(), argnums=(0, 1))(q, bias)
             for f in (True, False)]
    for g, r in zip(*grads):
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-4, atol=1e-5)


def test_default_chooses_and_fused_true_says_why_not():
    rng = np.random.default_rng(9)
    (q, k, v), _ = qkv(rng, (1, 2, 2, 12, 8, 16))
    lay = np.ones((1, 2, 2), bool)
    np.testing.assert_allclose(np.array(bs.flash_attention(q, k, v, lay)),
                               np.array(bs.flash_attention(q, k, v, lay, fused=False)))
    with pytest.raises(ValueError, match=r"flash_attention\] fused=True, but d=12"):
        bs.flash_attention(q, k, v, lay, fused=True)
    (q, k, v), _ = qkv(rng, (1, 2, 2, 8, 8, 4))
    with pytest.raises(ValueError, match=r"fused=True, but the block size is 4"):
        bs.flash_attention(q, k, v, lay, fused=True)
    (q, k, v), _ = qkv(rng, (1, 2, 2, 8, 8, 16))
    with pytest.raises(ValueError, match=r"fused=True, but q, k and v are"):
        bs.flash_attention(q, k.astype(mx.float16), v, lay, fused=True)
    with pytest.raises(ValueError, match=r"fused=True, but the bias is"):
        bs.flash_attention(q.astype(mx.float16), k.astype(mx.float16), v.astype(mx.float16), lay,
                           mask=mx.zeros((32, 32)), fused=True)
    with pytest.raises(ValueError, match=r"fused should be None, True or False"):
        bs.flash_attention(q, k, v, lay, fused="yes")


def op_args(**change):
    """Valid _ext.flash_attention arguments (B=2, Lq=32, Lk=48, d=8, dv=16, bs=16, 6 blocks:
    row_ptr [0 2 4 6 6], col [0 2 1 2 0 1], t_ptr [0 1 2 4 5 6 6], t_row [0 1 0 1 0 0],
    t_block [0 2 1 3 4 5]), changed."""
    lay = np.array([[[1, 0, 1], [0, 1, 1]], [[1, 1, 0], [0, 0, 0]]], bool)
    row_ptr, col, t_ptr, t_row, t_block = _block_csr(*_key(lay))
    n = int(lay.sum())
    args = dict(q=mx.zeros((2, 32, 8)), k=mx.zeros((2, 48, 8)), v=mx.zeros((2, 48, 16)),
                row_ptr=row_ptr, col=col, t_ptr=t_ptr, t_row=t_row, t_block=t_block,
                block_size=16, scale=1.0, bias=mx.zeros((n, 16, 16)),
                mask=mx.zeros((n, 16, 16), mx.uint8))
    args.update(change)
    return args


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_empty_layout(dtype):
    rng = np.random.default_rng(10)
    (q, k, v), _ = qkv(rng, (2, 2, 3, 16, 8, 16), dtype)
    lay = np.zeros((2, 2, 3), bool)
    o = bs.flash_attention(q, k, v, lay, fused=True)
    grads = mx.grad(lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True).sum(),
                    argnums=(0, 1, 2))(q, k, v)
    for x in (o, *grads):
        assert not np.array(x.astype(mx.float32)).any()


def test_the_op_runs_with_valid_arguments():
    o, lse = _ext.flash_attention(**op_args())
    assert o.shape == (2, 32, 16) and lse.shape == (2, 32)
    assert np.isinf(np.array(lse)[1, 16:]).all() and not np.array(o).any()


ERRORS = [
    (dict(q=mx.zeros((2, 32))), r"q, k and v should be \(B, Lq, d\)"),
    (dict(k=mx.zeros((2, 48, 16))), r"q, k and v should be"),
    (dict(v=mx.zeros((2, 32, 16))), r"q, k and v should be"),
    (dict(k=mx.zeros((1, 48, 8))), r"q, k and v should be"),
    (dict(q=mx.zeros((2, 32, 8), mx.float16)), r"q, k and v should share one dtype"),
    # float64 made on the CPU (the GPU has none): the op refuses it before any device does
    (dict(q=mx.zeros((2, 32, 8), mx.float64, stream=mx.cpu),
          k=mx.zeros((2, 48, 8), mx.float64, stream=mx.cpu),
          v=mx.zeros((2, 48, 16), mx.float64, stream=mx.cpu), bias=None),
     r"q, k and v should share one dtype"),
    (dict(block_size=8), r"block_size should be 16, 32 or 64 but is 8"),
    (dict(q=mx.zeros((2, 40, 8))), r"Lq=40 and Lk=48 should be multiples of block_size=16"),
    (dict(q=mx.zeros((2, 32, 12)), k=mx.zeros((2, 48, 12))), r"d should be a multiple of 8"),
    (dict(q=mx.zeros((2, 32, 264)), k=mx.zeros((2, 48, 264))), r"d should be a multiple of 8 from 8 to 256 but is 264"),
    (dict(v=mx.zeros((2, 48, 4))), r"dv should be a multiple of 8"),
    (dict(row_ptr=mx.zeros((4,), mx.int32)), r"row_ptr should be 1-D int32 of size 5"),
    (dict(col=mx.zeros((5,), mx.int64)), r"col should be 1-D int32"),
    (dict(t_ptr=mx.zeros((7, 1), mx.int32)), r"t_ptr should be 1-D int32 of size 7"),
    (dict(t_row=mx.zeros((4,), mx.int32)), r"t_row should be 1-D int32 of size 6"),
    (dict(t_block=mx.zeros((7,), mx.int32)), r"t_block should be 1-D int32 of size 6"),
    (dict(bias=mx.zeros((5, 16, 8))), r"bias should be float32 of shape \(6, 16, 16\)"),
    (dict(bias=mx.zeros((6, 16, 16), mx.float16)), r"bias should be float32"),
    (dict(mask=mx.zeros((6, 16, 16), mx.bool_)), r"mask should be uint8 \(1 = masked\)"),
    (dict(mask=mx.zeros((4, 16, 16), mx.uint8)), r"mask should be uint8"),
    (dict(row_ptr=mx.array([1, 2, 4, 6, 6], mx.int32)), r"row_ptr should run from 0 to n_blocks=6"),
    (dict(row_ptr=mx.array([0, 2, 1, 6, 6], mx.int32)), r"row_ptr should be non-decreasing"),
    (dict(col=mx.array([0, 3, 1, 2, 0, 1], mx.int32)), r"col\[1\]=3 should be in \[0, 3\)"),
    (dict(col=mx.array([2, 0, 1, 2, 0, 1], mx.int32)), r"col\[1\]=0 should be in \[0, 3\) and ascending"),
    (dict(t_row=mx.array([0, 1, 0, 2, 0, 0], mx.int32)), r"t_row\[3\]=2 should be in \[0, 2\)"),
    (dict(t_block=mx.array([0, 2, 1, 3, 4, 6], mx.int32)), r"t_block\[5\]=6 should be the block at batch 1, row 0, column 1"),
    (dict(t_block=mx.array([0, 2, 3, 1, 4, 5], mx.int32)), r"t_block\[2\]=3 should be the block at batch 0, row 0, column 2"),
]


@pytest.mark.parametrize("change,message", ERRORS, ids=[m[:30] for _, m in ERRORS])
def test_errors(change, message):
    with pytest.raises(ValueError, match=r"\[flash_attention\] " + message):
        _ext.flash_attention(**op_args(**change))
