"""Gradients (mx.grad, mx.vjp, mx.jvp) of every op, against dense masked references and
float64 central finite differences."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import (GPU_TESTS, VARIANTS, assert_close, rand, random_case, to_mx, to_np, value_dtypes)

# Reference precision: float64, except on the GPU, which MLX gives no float64 (there the same
# checks run in float32 and the finite-difference checks are skipped).
F64 = mx.float32 if GPU_TESTS else mx.float64
PRODUCT_VARIANTS = ["canonical", "unsorted", "duplicates", "explicit_zeros", "empty_rows",
                    "one_long_row"]


def f64(x):
    return mx.array(np.asarray(x, dtype=np.float64), dtype=F64)


def finite_difference(f, x, eps=1e-6):
    """Central differences of a scalar function f(np.ndarray float64) -> float."""
    if GPU_TESTS:
        pytest.skip("finite differences need float64, which MLX's GPU lacks")
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def check_fd(fun, args, argnum, eps=1e-6, rtol=1e-6):
    """mx.grad(fun, argnum) at args (float64 mx arrays) against finite differences."""
    got = to_np(mx.grad(fun, argnums=argnum)(*args))
    base = [np.array(a) for a in args]

    def f(x):
        a = [f64(v) for v in base]
        a[argnum] = f64(x)
        return float(fun(*a).item())

    fd = finite_difference(f, base[argnum], eps)
    np.testing.assert_allclose(got, fd, rtol=rtol, atol=rtol * max(1.0, np.abs(fd).max(initial=0)))


# ---- spmv

@pytest.mark.parametrize("variant", PRODUCT_VARIANTS)
def test_grad_spmv(variant):
    case = random_case((37, 29), variant, seed=1)
    A = case.csr(F64)
    x, w = rand(29, seed=1), rand(37, seed=2)

    def fun(v, xx):
        return mx.sum(f64(w) * (A.with_data(v) @ xx))

    dv, dx = mx.grad(fun, argnums=(0, 1))(A.data, f64(x))
    assert_close(dv, w[case.rows] * x[case.indices], F64)
    assert_close(dx, case.dense().T @ w, F64)


def test_grad_spmv_finite_differences():
    case = random_case((5, 4), "duplicates", density=0.6, seed=3)
    A = case.csr(F64)

    def fun(v, xx):
        y = A.with_data(v) @ xx
        return mx.sum(y * y * y)  # polynomials only: MLX's float64 sin/exp are float32-accurate

    args = [A.data, f64(rand(4, seed=3))]
    check_fd(fun, args, 0)
    check_fd(fun, args, 1)


# ---- spmm

@pytest.mark.parametrize("variant", PRODUCT_VARIANTS)
@value_dtypes
def test_grad_spmm(variant, dtype):
    case = random_case((37, 29), variant, seed=4)
    A = case.csr(dtype)
    B, W = rand((29, 17), seed=4, dtype=dtype), rand((37, 17), seed=5, dtype=dtype)
    Wm = to_mx(W, dtype)

    def fun(v, b):
        return mx.sum(Wm * (A.with_data(v) @ b))

    dv, dB = mx.grad(fun, argnums=(0, 1))(A.data, to_mx(B, dtype))
    assert dv.dtype == dtype and dv.shape == (case.nnz,)
    ref_v = (W @ B.T)[case.rows, case.indices]
    assert_close(dv, ref_v, dtype, scale=(np.abs(W) @ np.abs(B).T).max())
    assert_close(dB, case.dense(dtype).T @ W, dtype, scale=case.abs_dense(dtype).T @ np.abs(W))


@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates"])
def test_grad_spmm_batched(variant):
    case = random_case((7, 11), variant, seed=6)
    A = case.csr(F64)
    B, W = rand((2, 3, 11, 5), seed=6), rand((2, 3, 7, 5), seed=7)

    def fun(v, b):
        return mx.sum(f64(W) * (A.with_data(v) @ b))

    dv, dB = mx.grad(fun, argnums=(0, 1))(A.data, f64(B))
    ref_v = np.einsum("abmk,abnk->mn", W, B)[case.rows, case.indices]
    assert_close(dv, ref_v, F64)
    assert_close(dB, np.einsum("mn,abmk->abnk", case.dense(), W), F64)


def test_grad_spmm_broadcast_values_ext():
    """Batched values broadcast against B: the gradient sums over the broadcast dims."""
    case = random_case((7, 11), seed=8)
    A = case.csr(F64)
    vals, B = rand((2, 1, case.nnz), seed=8), rand((3, 11, 4), seed=9)

    def fun(v, b):
        return mx.sum(mx.square(ms._ext.csr_spmm(A.indptr, A.indices, v, b, 11)))

    dv, dB = mx.grad(fun, argnums=(0, 1))(f64(vals), f64(B))
    assert dv.shape == (2, 1, case.nnz) and dB.shape == (3, 11, 4)
    check_fd(fun, [f64(vals), f64(B)], 0, rtol=1e-5)
    check_fd(fun, [f64(vals), f64(B)], 1, rtol=1e-5)


def test_grad_spmm_finite_differences():
    case = random_case((5, 4), "unsorted", density=0.6, seed=10)
    A = case.csr(F64)

    def fun(v, b):
        y = A.with_data(v) @ b
        return mx.sum(mx.square(y) * (1.0 + 0.5 * y))

    args = [A.data, f64(rand((4, 3), seed=10))]
    check_fd(fun, args, 0)
    check_fd(fun, args, 1)


@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates"])
def test_grad_dense_at_sparse(variant):
    """X @ A (the transposed product): d/dvalues = (X.T @ W)[row, col], d/dX = W @ A.T."""
    case = random_case((37, 29), variant, seed=11)
    A = case.csr(F64)
    X, W = rand((13, 37), seed=11), rand((13, 29), seed=12)

    def fun(v, xx):
        return mx.sum(f64(W) * ms.matmul(xx, A.with_data(v)))

    dv, dX = mx.grad(fun, argnums=(0, 1))(A.data, f64(X))
    assert_close(dv, (X.T @ W)[case.rows, case.indices], F64)
    assert_close(dX, W @ case.dense().T, F64)
    # 1-D x @ A
    x, w = rand(37, seed=13), rand(29, seed=14)

    def fun1(v, xx):
        return mx.sum(f64(w) * ms.matmul(xx, A.with_data(v)))

    dv, dx = mx.grad(fun1, argnums=(0, 1))(A.data, f64(x))
    assert_close(dv, x[case.rows] * w[case.indices], F64)
    assert_close(dx, case.dense() @ w, F64)


def test_grad_dense_at_sparse_finite_differences():
    case = random_case((5, 4), "duplicates", density=0.6, seed=15)
    A = case.csr(F64)

    def fun(v, xx):
        y = ms.matmul(xx, A.with_data(v))
        return mx.sum(y * mx.square(y + 1.0))

    args = [A.data, f64(rand((2, 3, 5), seed=15))]
    check_fd(fun, args, 0)
    check_fd(fun, args, 1)


def test_grad_of_grad_spmm():
    """h(v) = <U, d/dB sum(W * (A(v) @ B))> = <U, A(v)^T W>: dh/dv = (W @ U.T)[row, col]."""
    case = random_case((7, 11), "duplicates", seed=16)
    A = case.csr(F64)
    B, W, U = rand((11, 5), seed=16), rand((7, 5), seed=17), rand((11, 5), seed=18)

    def f(v, b):
        return mx.sum(f64(W) * (A.with_data(v) @ b))

    def h(v):
        return mx.sum(f64(U) * mx.grad(f, argnums=1)(v, f64(B)))

    assert_close(h(A.data), np.sum(U * (case.dense().T @ W)), F64)
    dv = mx.grad(h)(A.data)
    assert_close(dv, (W @ U.T)[case.rows, case.indices], F64)


def test_grad_of_grad_spmm_finite_differences():
    case = random_case((5, 4), "unsorted", density=0.6, seed=19)
    A = case.csr(F64)
    B = f64(rand((4, 3), seed=19))

    def f(v, b):
        return 0.5 * mx.sum(mx.square(A.with_data(v) @ b))

    def h(v, b):  # |d f / d B|^2 depends on v and B nonlinearly
        return mx.sum(mx.square(mx.grad(f, argnums=1)(v, b)))

    check_fd(h, [A.data, B], 0, rtol=1e-5)
    check_fd(h, [A.data, B], 1, rtol=1e-5)


# ---- vjp and jvp

@pytest.mark.parametrize("variant", ["canonical", "duplicates"])
def test_vjp_jvp_spmm(variant):
    case = random_case((7, 11), variant, seed=20)
    A = case.csr(F64)
    B, C = rand((11, 4), seed=20), rand((7, 4), seed=21)
    tv, tB = rand(case.nnz, seed=22), rand((11, 4), seed=23)

    def fun(v, b):
        return A.with_data(v) @ b

    (out,), (dv, dB) = mx.vjp(fun, [A.data, f64(B)], [f64(C)])
    assert_close(out, case.dense() @ B, F64)
    assert_close(dv, (C @ B.T)[case.rows, case.indices], F64)
    assert_close(dB, case.dense().T @ C, F64)

    (out,), (tout,) = mx.jvp(fun, [A.data, f64(B)], [f64(tv), f64(tB)])
    Dt = np.zeros((7, 11))
    np.add.at(Dt, (case.rows, case.indices), tv)
    assert_close(tout, Dt @ B + case.dense() @ tB, F64)


def test_vjp_jvp_spmv():
    case = random_case((7, 11), "unsorted", seed=24)
    A = case.csr(F64)
    x, c, tv, tx = rand(11, seed=24), rand(7, seed=25), rand(case.nnz, seed=26), rand(11, seed=27)

    def fun(v, xx):
        return A.with_data(v) @ xx

    _, (dv, dx) = mx.vjp(fun, [A.data, f64(x)], [f64(c)])
    assert_close(dv, c[case.rows] * x[case.indices], F64)
    assert_close(dx, case.dense().T @ c, F64)
    _, (tout,) = mx.jvp(fun, [A.data, f64(x)], [f64(tv), f64(tx)])
    Dt = np.zeros((7, 11))
    np.add.at(Dt, (case.rows, case.indices), tv)
    assert_close(tout, Dt @ x + case.dense() @ tx, F64)


# ---- sddmm

@pytest.mark.parametrize("variant", PRODUCT_VARIANTS)
def test_grad_sddmm(variant):
    case = random_case((37, 29), variant, seed=28)
    A = case.csr(F64)
    X, Y, w = rand((37, 6), seed=28), rand((29, 6), seed=29), rand(case.nnz, seed=30)

    def fun(xx, yy):
        return mx.sum(f64(w) * ms.sddmm(A, xx, yy).data)

    dX, dY = mx.grad(fun, argnums=(0, 1))(f64(X), f64(Y))
    Aw = np.zeros((37, 29))
    np.add.at(Aw, (case.rows, case.indices), w)
    assert_close(dX, Aw @ Y, F64)
    assert_close(dY, Aw.T @ X, F64)


def test_grad_sddmm_finite_differences_and_jvp():
    case = random_case((5, 4), "duplicates", density=0.6, seed=31)
    A = case.csr(F64)

    def fun(xx, yy):
        d = ms.sddmm(A, xx, yy).data
        return mx.sum(d * d * d)

    args = [f64(rand((5, 3), seed=31)), f64(rand((4, 3), seed=32))]
    check_fd(fun, args, 0)
    check_fd(fun, args, 1)
    X, Y, tX, tY = rand((5, 3), seed=31), rand((4, 3), seed=32), rand((5, 3), seed=33), rand((4, 3), seed=34)
    _, (t,) = mx.jvp(lambda xx, yy: ms.sddmm(A, xx, yy).data, [f64(X), f64(Y)], [f64(tX), f64(tY)])
    ref = (tX @ Y.T + X @ tY.T)[case.rows, case.indices]
    assert_close(t, ref, F64)


# ---- spgemm

@pytest.mark.parametrize("va", ["canonical", "unsorted", "duplicates", "explicit_zeros"])
@pytest.mark.parametrize("vb", ["canonical", "duplicates"])
def test_grad_spgemm(va, vb):
    a, b = random_case((9, 13), va, seed=35), random_case((13, 7), vb, seed=36)
    A, B = a.csr(F64), b.csr(F64)
    W = rand((9, 7), seed=37)

    def fun(va_, vb_):
        C = A.with_data(va_) @ B.with_data(vb_)
        return mx.sum(f64(W) * C.todense())

    dva, dvb = mx.grad(fun, argnums=(0, 1))(A.data, B.data)
    assert dva.shape == (a.nnz,) and dvb.shape == (b.nnz,)
    assert_close(dva, (W @ b.dense().T)[a.rows, a.indices], F64)
    assert_close(dvb, (a.dense().T @ W)[b.rows, b.indices], F64)


def test_grad_spgemm_through_values_of_triplets():
    """CSRArrays built inside the function from (values, indices, indptr)."""
    a, b = random_case((6, 5), "canonical", seed=38), random_case((5, 4), "canonical", seed=39)
    A, B = a.csr(F64), b.csr(F64)

    def fun(va_, vb_):
        Aa = ms.csr_array((va_, A.indices, A.indptr), shape=A.shape)
        Bb = ms.csr_array((vb_, B.indices, B.indptr), shape=B.shape)
        return mx.sum(mx.square((Aa @ Bb).data))

    check_fd(fun, [A.data, B.data], 0)
    check_fd(fun, [A.data, B.data], 1)


def test_jvp_spgemm():
    a, b = random_case((6, 5), "duplicates", seed=40), random_case((5, 4), seed=41)
    A, B = a.csr(F64), b.csr(F64)
    ta, tb = rand(a.nnz, seed=42), rand(b.nnz, seed=43)

    def fun(va_, vb_):
        return (A.with_data(va_) @ B.with_data(vb_)).todense()

    _, (t,) = mx.jvp(fun, [A.data, B.data], [f64(ta), f64(tb)])
    Ta, Tb = np.zeros(a.shape), np.zeros(b.shape)
    np.add.at(Ta, (a.rows, a.indices), ta)
    np.add.at(Tb, (b.rows, b.indices), tb)
    assert_close(t, Ta @ b.dense() + a.dense() @ Tb, F64)


# ---- todense, sum_duplicates (COO), multiply, transpose, fromdense

@pytest.mark.parametrize("variant", VARIANTS)
def test_grad_todense(variant):
    case = random_case((7, 11), variant, seed=44)
    A = case.csr(F64)
    W = rand((7, 11), seed=44)
    dv = mx.grad(lambda v: mx.sum(f64(W) * A.with_data(v).todense()))(A.data)
    assert_close(dv, W[case.rows, case.indices], F64)
    _, (t,) = mx.jvp(lambda v: A.with_data(v).todense(), [A.data], [f64(np.ones(case.nnz))])
    assert_close(t, case.pattern().toarray() * 0 + _count(case), F64)


def _count(case):
    out = np.zeros(case.shape)
    np.add.at(out, (case.rows, case.indices), 1.0)
    return out


def test_grad_wrt_csrarray_is_dict():
    case = random_case((7, 11), "duplicates", seed=45)
    A = case.csr(F64)
    W = rand((7, 11), seed=45)
    g = mx.grad(lambda M: mx.sum(f64(W) * M.todense()))(A)
    assert isinstance(g, dict) and set(g.keys()) == {"data"}
    assert_close(g["data"], W[case.rows, case.indices], F64)
    x = rand(11, seed=46)
    g = mx.grad(lambda M: mx.sum(M @ f64(x)))(A)
    assert_close(g["data"], x[case.indices], F64)


def test_grad_coo_sum_duplicates():
    rows, cols = np.array([2, 0, 2, 1, 2, 0]), np.array([1, 3, 1, 0, 1, 0])
    W = rand((4, 5), seed=47)

    def fun(v):
        A = ms.csr_array((v, (rows, cols)), shape=(4, 5))
        return mx.sum(f64(W) * mx.square(A.todense()))

    v = rand(6, seed=48)
    dense = np.zeros((4, 5))
    np.add.at(dense, (rows, cols), v)
    dv = mx.grad(fun)(f64(v))
    assert_close(dv, (2 * W * dense)[rows, cols], F64)
    check_fd(fun, [f64(v)], 0)


@pytest.mark.parametrize("variant", ["duplicates", "unsorted"])
def test_grad_sum_duplicates_method(variant):
    case = random_case((7, 11), variant, seed=49)
    A = case.csr(F64)
    W = rand((7, 11), seed=49)

    def fun(v):
        B = A.with_data(v)
        B.sum_duplicates()
        return mx.sum(f64(W) * B.todense())

    assert_close(mx.grad(fun)(A.data), W[case.rows, case.indices], F64)

    def fun2(v):
        B = A.with_data(v)
        B.sort_indices()
        return mx.sum(f64(W) * mx.square(B.todense()))

    check_fd(fun2, [A.data], 0)


@pytest.mark.parametrize("variant", ["canonical", "duplicates", "unsorted"])
def test_grad_multiply_dense(variant):
    case = random_case((7, 11), variant, seed=50)
    A = case.csr(F64)
    D, W = rand((7, 11), seed=50), rand((7, 11), seed=51)

    def fun(v, d):
        return mx.sum(f64(W) * A.with_data(v).multiply(d).todense())

    dv, dD = mx.grad(fun, argnums=(0, 1))(A.data, f64(D))
    assert_close(dv, (W * D)[case.rows, case.indices], F64)
    assert_close(dD, W * case.dense(), F64)
    # broadcast row vector
    r = rand((1, 11), seed=52)
    dr = mx.grad(fun, argnums=1)(A.data, f64(r))
    assert dr.shape == (1, 11)
    assert_close(dr, (W * case.dense()).sum(axis=0, keepdims=True), F64)


def test_grad_multiply_sparse_and_scalar():
    a, b = random_case((7, 11), "duplicates", seed=53, density=0.6), random_case((7, 11), seed=54, density=0.6)
    A, B = a.csr(F64), b.csr(F64)
    W = rand((7, 11), seed=55)

    def fun(va_, vb_):
        C = A.with_data(va_).multiply(B.with_data(vb_)) * 3.0
        return mx.sum(f64(W) * C.todense())

    dva, dvb = mx.grad(fun, argnums=(0, 1))(A.data, B.data)
    assert_close(dva, (3 * W * b.dense())[a.rows, a.indices], F64)
    assert_close(dvb, (3 * W * a.dense())[b.rows, b.indices], F64)


@pytest.mark.parametrize("variant", ["canonical", "duplicates", "unsorted"])
def test_grad_transpose(variant):
    case = random_case((7, 11), variant, seed=56)
    A = case.csr(F64)
    W, X = rand((11, 7), seed=56), rand((7, 3), seed=57)

    def fun(v):
        return mx.sum(f64(W) * A.with_data(v).T.todense())

    assert_close(mx.grad(fun)(A.data), W.T[case.rows, case.indices], F64)

    def fun2(v):
        return mx.sum(mx.square(A.with_data(v).T @ f64(X)))

    check_fd(fun2, [A.data], 0)


def test_grad_add_sub():
    a, b = random_case((7, 11), "duplicates", seed=58), random_case((7, 11), seed=59)
    A, B = a.csr(F64), b.csr(F64)
    W = rand((7, 11), seed=60)

    def fun(va_, vb_):
        return mx.sum(f64(W) * (A.with_data(va_) - B.with_data(vb_)).todense())

    dva, dvb = mx.grad(fun, argnums=(0, 1))(A.data, B.data)
    assert_close(dva, W[a.rows, a.indices], F64)
    assert_close(dvb, -W[b.rows, b.indices], F64)


def test_grad_sum_axes():
    case = random_case((7, 11), "duplicates", seed=61)
    A = case.csr(F64)
    r, c = rand(7, seed=61), rand(11, seed=62)
    dv = mx.grad(lambda v: mx.sum(f64(r) * A.with_data(v).sum(axis=1)))(A.data)
    assert_close(dv, r[case.rows], F64)
    dv = mx.grad(lambda v: mx.sum(f64(c) * A.with_data(v).sum(axis=0)))(A.data)
    assert_close(dv, c[case.indices], F64)
    dv = mx.grad(lambda v: A.with_data(v).sum())(A.data)
    assert_close(dv, np.ones(case.nnz), F64)


def test_grad_fromdense():
    D = rand((7, 11), seed=63) * (np.random.default_rng(63).random((7, 11)) < 0.4)
    U = rand((7, 11), seed=64)
    g = mx.grad(lambda d: mx.sum(f64(U) * ms.fromdense(d).todense()))(f64(D))
    assert_close(g, U * (D != 0), F64)


# ---- indices are not differentiable

def test_grad_wrt_indices_raises():
    case = random_case((7, 11), seed=65)
    A = case.csr(F64)
    x, B = f64(rand(11, seed=65)), f64(rand((11, 3), seed=66))
    funs = {
        "spmv": lambda v, ix, ip: mx.sum(ms.csr_array((v, ix, ip), shape=A.shape) @ x),
        "spmm": lambda v, ix, ip: mx.sum(ms.csr_array((v, ix, ip), shape=A.shape) @ B),
        "todense": lambda v, ix, ip: mx.sum(ms.csr_array((v, ix, ip), shape=A.shape).todense()),
        "sddmm": lambda v, ix, ip: mx.sum(
            ms.sddmm(ms.csr_array((v, ix, ip), shape=A.shape), mx.ones((7, 2), dtype=F64),
                     mx.ones((11, 2), dtype=F64)).data),
        "spgemm": lambda v, ix, ip: mx.sum(
            (ms.csr_array((v, ix, ip), shape=A.shape) @ A.T).data),
    }
    for name, fun in funs.items():
        for argnum in (1, 2):
            with pytest.raises(ValueError, match=r"ind(ices|ptr)"):
                mx.grad(fun, argnums=argnum)(A.data, A.indices, A.indptr)
    with pytest.raises(ValueError, match=r"ind(ices|ptr)"):
        mx.grad(lambda ix: mx.sum(ms._ext.csr_spmm(A.indptr, ix, A.data, B, 11)))(A.indices)
    with pytest.raises(ValueError, match=r"ind(ices|ptr)"):
        mx.jvp(lambda ix: ms._ext.csr_spmv(A.indptr, ix, A.data, x, 11), [A.indices],
               [mx.zeros_like(A.indices)])
