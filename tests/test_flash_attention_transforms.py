"""The fused flash_attention primitive under MLX's transforms beyond one vjp: second
derivatives (FlashAttentionGrad's vjp), forward mode (jvp) and vmap, each against the same
transform of a dense MLX reference (float32, a layout with empty rows, a bias and a mask),
using o and the log-sum-exp."""

import mlx.core as mx
import numpy as np
import pytest

from mlx_sparse.blocksparse._attention import attend
from conftest import GPU_KERNELS, to_mx
from test_flash_attention import make_layout

BS, SCALE = 16, 0.3
TOL = dict(rtol=2e-4, atol=2e-5)


def problem(seed=0, batch=2, mb=3, nb=3, d=16, dv=8):
    """q, k, v, bias blocks, masked blocks (True = masked) and the layout, with an empty
    block row and a query row whose every column is masked."""
    rng = np.random.default_rng(seed)
    lay = make_layout(rng, (batch, mb, nb), "empty_rows")
    lay[:, -1, 0] = True
    n = int(lay.sum())
    q, k, v = (to_mx(rng.standard_normal(s)) for s in
               ((batch, mb * BS, d), (batch, nb * BS, d), (batch, nb * BS, dv)))
    bias = to_mx(rng.standard_normal((n, BS, BS)))
    masked = rng.random((n, BS, BS)) < 0.2
    masked[0, 3, :] = True
    return q, k, v, bias, mx.array(masked), lay


def dense_index(lay):
    """For each dense score (b, r, c): its flat index into the blocks (n_blocks, BS, BS), or
    n_blocks * BS * BS (outside the layout)."""
    batch, mb, nb = lay.shape
    idx = np.full((batch, mb * BS, nb * BS), lay.sum() * BS * BS, np.int64)
    tile = np.arange(BS * BS).reshape(BS, BS)
    for e, (b, i, j) in enumerate(zip(*np.nonzero(lay))):
        idx[b, i * BS:(i + 1) * BS, j * BS:(j + 1) * BS] = e * BS * BS + tile
    return mx.array(idx.astype(np.int32))


def dense_reference(q, k, v, bias, masked, lay):
    """(o, lse) on dense scores: the bias gathered from its blocks, only the kept scores
    (inside the layout, not masked) in the softmax; a row with nothing kept gives o = 0 and
    lse = -inf."""
    idx = dense_index(lay)
    at = lambda x, pad: mx.take(mx.concatenate([x.reshape(-1), mx.array([pad], x.dtype)]), idx)
    keep = at(mx.logical_not(masked), False)
    s = SCALE * (q @ k.swapaxes(-1, -2)) + at(bias, 0.0)
    m = mx.stop_gradient(mx.where(keep, s, -mx.inf).max(axis=-1, keepdims=True))
    m = mx.where(m == -mx.inf, 0.0, m)
    e = mx.where(keep, mx.exp(mx.where(keep, s, 0.0) - m), 0.0)  # no inf, at any order
    t = e.sum(axis=-1, keepdims=True)
    o = (e @ v) / mx.where(t > 0, t, 1.0)
    lse = mx.where(t > 0, mx.log(mx.where(t > 0, t, 1.0)) + m, -mx.inf)[..., 0]
    return o, lse


def fused(q, k, v, bias, masked, lay):
    return attend(q, k, v, lay, BS, SCALE, bias, masked, fused=True, return_lse=True)


def loss_of(f, masked, lay, seed=1):
    """A scalar of o and of lse's finite entries, with fixed random weights."""
    def loss(q, k, v, bias):
        o, lse = f(q, k, v, bias, masked, lay)
        rng = np.random.default_rng(seed)
        wo = mx.array(rng.standard_normal(o.shape).astype(np.float32))
        wl = mx.array(rng.standard_normal(lse.shape).astype(np.float32))
        return (mx.sin(o) * wo).sum() + (mx.where(mx.isfinite(lse), lse, 0.0) * wl).sum()
    return loss


def close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.array(g), np.array(w), **TOL)


pytestmark = pytest.mark.skipif(GPU_KERNELS, reason="float32 on the CPU stream")


def test_second_derivatives():
    """mx.grad of a function of mx.grad: FlashAttentionGrad's vjp, in every input."""
    q, k, v, bias, masked, lay = problem()
    args = (0, 1, 2, 3)

    def outer(f):
        g = mx.grad(loss_of(f, masked, lay), args)
        return mx.grad(lambda *x: sum((mx.square(t) * (i + 1)).sum()
                                      for i, t in enumerate(g(*x))), args)(q, k, v, bias)

    close(outer(fused), outer(dense_reference))
    # a third order in q: the backward's vjp differentiates again
    h = lambda f: mx.grad(lambda x: mx.square(mx.grad(loss_of(f, masked, lay))(x, k, v, bias)).sum())  # noqa: E731
    hh = lambda f: mx.grad(lambda x: mx.square(h(f)(x)).sum())(q)  # noqa: E731
    close([hh(fused)], [hh(dense_reference)])


def test_jvp():
    q, k, v, bias, masked, lay = problem(seed=2)
    rng = np.random.default_rng(3)
    primals = (q, k, v, bias)
    tangents = tuple(to_mx(rng.standard_normal(x.shape)) for x in primals)
    for which in [(0, 1, 2, 3), (0,), (1,), (2,), (3,)]:
        t = tuple(x if i in which else mx.zeros_like(x) for i, x in enumerate(tangents))
        got = mx.jvp(lambda *x: fused(*x, masked, lay), primals, t)
        want = mx.jvp(lambda *x: dense_reference(*x, masked, lay), primals, t)
        close(got[0], want[0])
        o_t, lse_t = got[1]
        lse_want = np.array(want[1][1])
        np.testing.assert_allclose(np.array(o_t), np.array(want[1][0]), **TOL)
        # lse's tangent at a row with nothing to attend to: the reference's is nan (inf - inf)
        live = np.isfinite(np.array(want[0][1]))
        np.testing.assert_allclose(np.array(lse_t)[live], lse_want[live], **TOL)
        assert np.all(np.array(lse_t)[~live] == 0)


def test_jvp_of_the_gradient():
    """Forward over reverse (a Hessian-vector product): FlashAttentionGrad's jvp, in every
    input and in one at a time, against reverse over reverse of the dense reference (MLX's
    scatter, the take's gradient there, has no jvp)."""
    q, k, v, bias, masked, lay = problem(seed=4)
    rng = np.random.default_rng(5)
    primals = (q, k, v, bias)
    tangents = tuple(to_mx(rng.standard_normal(x.shape)) for x in primals)
    args = (0, 1, 2, 3)
    for which in [args, (0,), (2,), (3,)]:
        t = tuple(x if i in which else mx.zeros_like(x) for i, x in enumerate(tangents))
        g = mx.grad(loss_of(fused, masked, lay), args)
        got = mx.jvp(lambda *x: g(*x), primals, t)
        g_ref = mx.grad(loss_of(dense_reference, masked, lay), args)
        hvp = mx.grad(lambda *x: sum((gi * ti).sum() for gi, ti in zip(g_ref(*x), t)), args)
        close(got[0], g_ref(*primals))
        close(got[1], hvp(*primals))


def test_vmap_forward_and_gradient():
    """vmap over a leading axis of q, v and the bias (k shared): the forward, and the gradient
    (FlashAttentionGrad's vmap), against the reference slice by slice."""
    q, k, v, bias, masked, lay = problem(seed=4)
    rng = np.random.default_rng(5)
    Q = mx.stack([q, 2 * q, -q])
    V = to_mx(rng.standard_normal((3, *v.shape)))
    Bias = mx.stack([bias, mx.zeros_like(bias), -bias])
    axes = (0, None, 0, 0)
    got = mx.vmap(lambda *x: fused(*x, masked, lay), in_axes=axes)(Q, k, V, Bias)
    for i in range(3):
        close([g[i] for g in got], dense_reference(Q[i], k, V[i], Bias[i], masked, lay))
    grad = lambda f: mx.grad(loss_of(f, masked, lay), (0, 1, 2, 3))  # noqa: E731
    got = mx.vmap(grad(fused), in_axes=axes)(Q, k, V, Bias)
    for i in range(3):
        close([g[i] for g in got], grad(dense_reference)(Q[i], k, V[i], Bias[i]))
    # a mapped mask folds like the bias
    M = mx.stack([masked, mx.logical_not(masked)])
    got = mx.vmap(lambda m: fused(q, k, v, bias, m, lay)[0])(M)
    for i in range(2):
        close([got[i]], [dense_reference(q, k, v, bias, M[i], lay)[0]])


def test_dense_form_under_vmap_compile_and_float16():
    """The user's form: bs.flash_attention on (B, H, L, d) mapped over a leading axis, a
    second derivative under mx.compile, and float16 (float32 inside) against float32."""
    import mlx_sparse.blocksparse as bs
    rng = np.random.default_rng(6)
    lay = make_layout(rng, (3, 3), "window")
    X = [to_mx(rng.standard_normal((2, 2, 2, 48, 16))) for _ in range(3)]
    got = mx.vmap(lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True))(*X)
    want = [bs.flash_attention(X[0][i], X[1][i], X[2][i], lay, fused=False) for i in range(2)]
    close(got, want)

    def hessian_vector(dtype, fused):
        q, k, v = (x[0].astype(dtype) for x in X)
        f = lambda q: (bs.flash_attention(q, k, v, lay, fused=fused) ** 2).sum()  # noqa: E731
        return mx.grad(lambda q: (mx.grad(f)(q) * q).sum())(q).astype(mx.float32)

    want = hessian_vector(mx.float32, False)
    close([mx.compile(lambda: hessian_vector(mx.float32, True))()], [want])
    np.testing.assert_allclose(np.array(hessian_vector(mx.float16, True)), np.array(want),
                               rtol=5e-2, atol=5e-2 * float(mx.abs(want).max()))


def test_a_mapped_layout_is_refused():
    from mlx_sparse import _ext
    from mlx_sparse.blocksparse._attention import _block_csr, _key
    q, k, v, bias, masked, lay = problem()
    row_ptr, *rest = _block_csr(*_key(lay))
    with pytest.raises(ValueError, match=r"\[flash_attention\] the attention layout cannot be vmapped"):
        mx.vmap(lambda rp: _ext.flash_attention(q, k, v, rp, *rest, BS, SCALE)[0])(
            mx.stack([row_ptr, row_ptr]))
