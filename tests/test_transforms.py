"""mx.compile (also shapeless), mx.vmap, explicit streams and mx.eval of CSRArrays.
Results are compared with dense numpy references (and compiled with uncompiled)."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import assert_close, rand, random_case, to_mx, to_np

F32 = mx.float32


def fresh(x):
    """A new evaluated mx.array (never the same object as a captured one)."""
    out = to_mx(x, F32) if isinstance(x, np.ndarray) else mx.array(np.array(x))
    mx.eval(out)
    return out


@pytest.fixture(params=["canonical", "unsorted", "duplicates"])
def case(request):
    return random_case((37, 29), request.param, seed=1)


# ---- compile

def test_compile_every_op(case):
    A = case.csr(F32)
    Bc = random_case((29, 23), "canonical", seed=2)
    B = Bc.csr(F32)
    D = case.dense(F32)
    v = fresh(2.0 * np.array(A.data))
    x, X = rand(29, seed=3, dtype=F32), rand((29, 17), seed=4, dtype=F32)
    G, H = rand((37, 5), seed=5, dtype=F32), rand((29, 5), seed=6, dtype=F32)
    L = rand((3, 37), seed=7, dtype=F32)
    W = rand((37, 29), seed=8, dtype=F32)

    def fun(v, x, X, G, H, L, W):
        M = A.with_data(v)
        return [
            M @ x,                                   # spmv
            M @ X,                                   # spmm
            ms.sddmm(M, G, H).data,                  # sddmm
            (M @ B).todense(),                       # spgemm
            M.todense(),                             # todense
            M.T.todense(),                           # transpose
            ms.matmul(L, M),                         # dense @ sparse
            M.multiply(W).todense(),                 # multiply
            (-(M * 3.0) / 2.0).todense(),            # scalar ops
            M.sum(axis=0), M.sum(axis=1), M.sum(),   # sum
        ]

    args = [v, *(to_mx(a) for a in (x, X, G, H, L, W))]
    eager = fun(*args)
    compiled = mx.compile(fun)
    out = compiled(*args)
    again = compiled(*args)
    D2 = 2.0 * D
    refs = [D2 @ x, D2 @ X, 2.0 * (G @ H.T)[case.rows, case.indices] / 2.0,
            D2 @ Bc.dense(F32), D2, D2.T, L @ D2, D2 * W, -1.5 * D2, D2.sum(0), D2.sum(1), D2.sum()]
    refs[2] = (G @ H.T)[case.rows, case.indices]
    for o, a, e, r in zip(out, again, eager, refs):
        np.testing.assert_allclose(to_np(o), to_np(e), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(to_np(o), to_np(a))
        assert_close(o, r, F32, scale=np.abs(r).max() + 10.0)


def test_compile_add(case):
    A = case.csr(F32)
    B = random_case((37, 29), "duplicates", seed=29).csr(F32)
    v, w = fresh(np.array(A.data)), fresh(np.array(B.data))

    def fun(v, w):
        return (A.with_data(v) - 2.0 * B.with_data(w)).todense()

    ref = case.dense(F32) - 2.0 * random_case((37, 29), "duplicates", seed=29).dense(F32)
    assert_close(mx.compile(fun)(v, w), ref, F32)
    assert_close(fun(v, w), ref, F32)


def test_compile_grad(case):
    A = case.csr(F32)
    B, W = rand((29, 6), seed=9, dtype=F32), rand((37, 6), seed=10, dtype=F32)

    def loss(v, b):
        return mx.sum(to_mx(W) * (A.with_data(v) @ b))

    g = mx.compile(mx.grad(loss, argnums=(0, 1)))
    dv, dB = g(fresh(np.array(A.data)), to_mx(B))
    assert_close(dv, (W @ B.T)[case.rows, case.indices], F32)
    assert_close(dB, case.dense(F32).T @ W, F32)


def test_compile_csrarray_argument(case):
    """mx.compile rebuilds dict arguments as plain dicts, so a CSRArray argument arrives as
    {"data": values} and cannot be multiplied (a documented limitation). The supported
    pattern passes the values and rebuilds the array inside with A.with_data."""
    A = case.csr(F32)
    X = rand((29, 4), seed=11, dtype=F32)
    with pytest.raises(TypeError):
        mx.compile(lambda M, b: M @ b)(A, to_mx(X))
    f = mx.compile(lambda v, b: A.with_data(v) @ b)
    assert_close(f(A.data, to_mx(X)), case.dense(F32) @ X, F32)


@pytest.mark.parametrize("op", ["spmm", "sddmm", "dense_at_sparse", "spmv_batch"])
def test_compile_shapeless(case, op):
    A = case.csr(F32)
    D = case.dense(F32)
    funs = {
        "spmm": (lambda b: A @ b, lambda k: ((29, k),), lambda b: D @ b),
        "sddmm": (lambda g, h: ms.sddmm(A, g, h).data, lambda k: ((37, k), (29, k)),
                  lambda g, h: (g @ h.T)[case.rows, case.indices]),
        "dense_at_sparse": (lambda x: ms.matmul(x, A), lambda k: ((k, 37),), lambda x: x @ D),
        "spmv_batch": (lambda x: ms.spmv(A, x), lambda k: ((k, 29),), lambda x: x @ D.T),
    }
    fun, shapes, ref = funs[op]
    compiled = mx.compile(fun, shapeless=True)
    for k in (3, 16, 17, 65):
        args = [rand(s, seed=k + i, dtype=F32) for i, s in enumerate(shapes(k))]
        out = compiled(*(to_mx(a) for a in args))
        np.testing.assert_allclose(to_np(out), to_np(fun(*(to_mx(a) for a in args))),
                                   rtol=1e-6, atol=1e-6)
        assert_close(out, ref(*args), F32)


# ---- vmap

def test_vmap_dense_operand(case):
    A = case.csr(F32)
    D = case.dense(F32)
    Xs = rand((4, 29), seed=12, dtype=F32)
    assert_close(mx.vmap(lambda x: A @ x)(to_mx(Xs)), Xs @ D.T, F32)
    assert_close(mx.vmap(lambda x: A @ x, in_axes=1)(to_mx(Xs.T)), Xs @ D.T, F32)
    Bs = rand((3, 29, 5), seed=13, dtype=F32)
    assert_close(mx.vmap(lambda b: A @ b)(to_mx(Bs)), D @ Bs, F32)
    assert_close(mx.vmap(lambda b: A @ b, in_axes=2, out_axes=2)(to_mx(Bs.transpose(1, 2, 0))),
                 (D @ Bs).transpose(1, 2, 0), F32)
    Ls = rand((3, 2, 37), seed=14, dtype=F32)
    assert_close(mx.vmap(lambda x: ms.matmul(x, A))(to_mx(Ls)), Ls @ D, F32)


def test_vmap_values(case):
    A = case.csr(F32)
    Vs = rand((3, case.nnz), seed=15, dtype=F32)
    x, B = rand(29, seed=16, dtype=F32), rand((29, 4), seed=17, dtype=F32)
    dense = np.zeros((3, 37, 29))
    for i in range(3):
        np.add.at(dense[i], (case.rows, case.indices), Vs[i])
    V = to_mx(Vs)
    assert_close(mx.vmap(lambda v: A.with_data(v) @ to_mx(x))(V), dense @ x, F32)
    assert_close(mx.vmap(lambda v: A.with_data(v) @ to_mx(B))(V), dense @ B, F32)
    assert_close(mx.vmap(lambda v: A.with_data(v).todense())(V), dense, F32)
    assert_close(mx.vmap(lambda v: A.with_data(v).todense(), in_axes=1)(V.T), dense, F32)
    assert_close(mx.vmap(lambda v, b: A.with_data(v) @ b)(V, to_mx(np.stack([B] * 3))),
                 dense @ B, F32)
    assert_close(mx.vmap(lambda v, b: A.with_data(v) @ b, in_axes=(0, None))(V, to_mx(B)),
                 dense @ B, F32)


def test_vmap_sddmm(case):
    A = case.csr(F32)
    Gs, Hs = rand((3, 37, 5), seed=18, dtype=F32), rand((3, 29, 5), seed=19, dtype=F32)
    out = mx.vmap(lambda g, h: ms.sddmm(A, g, h).data)(to_mx(Gs), to_mx(Hs))
    ref = np.stack([(Gs[i] @ Hs[i].T)[case.rows, case.indices] for i in range(3)])
    assert_close(out, ref, F32)
    H = Hs[0]
    out = mx.vmap(lambda g: ms.sddmm(A, g, to_mx(H)).data)(to_mx(Gs))
    ref = np.stack([(Gs[i] @ H.T)[case.rows, case.indices] for i in range(3)])
    assert_close(out, ref, F32)
    out = mx.vmap(lambda h: ms.sddmm(A, to_mx(Gs[0]), h).data, in_axes=1)(to_mx(Hs.transpose(1, 0, 2)))
    ref = np.stack([(Gs[0] @ Hs[i].T)[case.rows, case.indices] for i in range(3)])
    assert_close(out, ref, F32)


def test_vmap_spgemm_values():
    a, b = random_case((7, 11), "duplicates", seed=20), random_case((11, 5), seed=21)
    A, B = a.csr(F32), b.csr(F32)
    Vs = rand((3, a.nnz), seed=22, dtype=F32)
    out = mx.vmap(lambda v: (A.with_data(v) @ B).todense())(to_mx(Vs))
    for i in range(3):
        Di = np.zeros((7, 11))
        np.add.at(Di, (a.rows, a.indices), Vs[i])
        assert_close(out[i], Di @ b.dense(F32), F32)


def test_vmap_grad(case):
    A = case.csr(F32)
    Bs = rand((3, 29, 4), seed=23, dtype=F32)

    def loss(v, b):
        return mx.sum(mx.square(A.with_data(v) @ b))

    g = mx.vmap(mx.grad(loss), in_axes=(None, 0))(fresh(np.array(A.data)), to_mx(Bs))
    D = case.dense(F32)
    for i in range(3):
        ref = (2 * (D @ Bs[i]) @ Bs[i].T)[case.rows, case.indices]
        assert_close(g[i], ref, F32, scale=np.abs(ref).max() + 1)


# ---- streams and eval

def test_stream_argument(case):
    A = case.csr(F32)
    D = case.dense(F32)
    x, X = rand(29, seed=24, dtype=F32), rand((29, 6), seed=25, dtype=F32)
    G, H = rand((37, 3), seed=26, dtype=F32), rand((29, 3), seed=27, dtype=F32)
    s = mx.cpu
    assert_close(ms.spmv(A, to_mx(x), stream=s), D @ x, F32)
    assert_close(ms.spmm(A, to_mx(X), stream=s), D @ X, F32)
    assert_close(ms.matmul(A, to_mx(X), stream=s), D @ X, F32)
    assert_close(ms.matmul(to_mx(X.T), A.T, stream=s), X.T @ D.T, F32)
    assert_close(ms.sddmm(A, to_mx(G), to_mx(H), stream=s).data, (G @ H.T)[case.rows, case.indices],
                 F32)
    assert_close(ms.spgemm(A, A.T, stream=s).todense(), D @ D.T, F32)
    assert_close(A.todense(stream=s), D, F32)
    assert_close(ms.sum(A, 0, stream=s), D.sum(0), F32)
    assert_close(A.sum(axis=1, stream=mx.default_stream(mx.cpu)), D.sum(1), F32)
    new = mx.new_stream(mx.cpu)
    assert_close(ms.spmm(A, to_mx(X), stream=new), D @ X, F32)


def test_eval_csrarray():
    case = random_case((7, 11), "duplicates", seed=28)
    A = case.csr(F32)
    lazy = A.with_data(A.data * 2.0 + 1.0)
    mx.eval(lazy)
    expected = 2.0 * np.array(A.data) + 1.0
    np.testing.assert_allclose(np.array(lazy.data), expected, rtol=1e-6)
    C = ms.csr_array((mx.exp(mx.zeros(case.nnz)), case.indices, case.indptr), shape=case.shape)
    mx.eval(C, A)
    np.testing.assert_array_equal(np.array(C.data), np.ones(case.nnz))
    mx.eval([A, {"m": C}])
