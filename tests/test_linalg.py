"""mlx_sparse.linalg against scipy.sparse.linalg and numpy: solver residuals on SPD,
nonsymmetric and indefinite matrices (2-D Poisson among them), preconditioners, direct solves,
eigenpairs, norms, and gradients of solves against finite differences."""

import math

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import mlx_sparse as ms
from conftest import GPU_TESTS, random_case
from mlx_sparse import linalg as la

# float64 references; on the GPU (no float64 in MLX) the tests that need them are skipped by
# conftest, while the float32 cases run there
F64 = mx.float64
DTYPES = [mx.float32] + ([] if GPU_TESTS else [mx.float64])
DTYPE_IDS = ["f32", "f64"][: len(DTYPES)]
needs_cpu = pytest.mark.skipif(GPU_TESTS, reason="SuperLU and exact triangular solves run on the CPU")


# ---- matrices

def poisson2d(nx):
    """The 5-point Laplacian on an nx x nx grid (scipy's generators), SPD."""
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(nx, nx))
    return sp.kronsum(T, T, format="csr")


def spd(n, seed=0):
    S = sp.random_array((n, n), density=0.15, rng=seed)
    return (S @ S.T + sp.diags_array(np.linspace(1.0, 3.0, n))).tocsr()


def nonsymmetric(nx, seed=0):
    """Poisson with an upwind convection term: nonsymmetric, positive real spectrum."""
    n = nx * nx
    C = sp.diags_array([-1.0, 1.0], offsets=[-1, 0], shape=(n, n))
    return (poisson2d(nx) + 0.8 * C + 0.1 * sp.random_array((n, n), density=0.02, rng=seed)).tocsr()


def indefinite(nx):
    """Poisson shifted into the middle of its spectrum: symmetric, indefinite."""
    P = poisson2d(nx)
    return (P - 2.5 * sp.eye_array(P.shape[0])).tocsr()


MATRICES = {"poisson": lambda: poisson2d(9), "spd": lambda: spd(40),
            "nonsymmetric": lambda: nonsymmetric(8), "indefinite": lambda: indefinite(8)}
SOLVES = [("cg", "poisson"), ("cg", "spd"), ("bicgstab", "poisson"), ("bicgstab", "spd"),
          ("bicgstab", "nonsymmetric"), ("gmres", "poisson"), ("gmres", "nonsymmetric"),
          ("gmres", "indefinite"), ("minres", "poisson"), ("minres", "spd"),
          ("minres", "indefinite")]


def rhs(n, seed=1):
    return np.random.default_rng(seed).standard_normal(n)


def mx_of(x, dtype):
    return mx.array(np.asarray(x, np.float64 if dtype == mx.float64 else np.float32), dtype=dtype)


def residual(S, x, b):
    return np.linalg.norm(b - S @ np.array(x, dtype=np.float64))


# ---- iterative solvers

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name,kind", SOLVES)
def test_solver_residual(name, kind, dtype):
    S = MATRICES[kind]()
    b = rhs(S.shape[0])
    rtol = 1e-4 if dtype == mx.float32 else 1e-10
    x, info = getattr(la, name)(ms.csr_array(S, dtype=dtype), mx_of(b, dtype), rtol=rtol,
                                maxiter=5000)
    assert info == 0
    assert x.shape == b.shape and x.dtype == dtype
    slack = 1.05 if dtype == mx.float32 else 1 + 1e-6  # the float64 residual of float32 x
    assert residual(S, x, b) <= slack * rtol * np.linalg.norm(b)
    ref = sla.spsolve(S.tocsc(), b)
    cond = np.linalg.cond(S.toarray())
    np.testing.assert_allclose(np.array(x, dtype=np.float64), ref,
                               atol=2 * slack * rtol * cond * np.abs(ref).max())


@pytest.mark.parametrize("name", ["cg", "bicgstab", "gmres", "minres"])
def test_solver_atol_and_x0(name):
    S, b = poisson2d(7), rhs(49)
    x0 = sla.spsolve(S.tocsc(), b) + 1e-3 * rhs(49, 5)
    x, info = getattr(la, name)(ms.csr_array(S), mx_of(b, F64), x0=mx_of(x0, F64), rtol=0.0,
                                atol=1e-7)
    assert info == 0 and residual(S, x, b) <= 1e-7 * (1 + 1e-3)


def test_cg_iterations_match_scipy():
    """Same recurrence as scipy's cg: the same number of iterations (callback count)."""
    S, b = poisson2d(12), rhs(144)
    ours, theirs = [], []
    x, info = la.cg(ms.csr_array(S), mx_of(b, F64), rtol=1e-8, callback=ours.append)
    xs, info_s = sla.cg(S, b, rtol=1e-8, callback=theirs.append)
    assert info == info_s == 0
    assert abs(len(ours) - len(theirs)) <= 1
    assert isinstance(ours[0], mx.array) and ours[0].shape == (144,)


def test_chunked_iterations_equal_per_iteration_ones():
    """Chunks between host syncs (masked after convergence) give the per-iteration result."""
    S, b = nonsymmetric(6), rhs(36)
    A = ms.csr_array(S)
    for solver in (la.cg, la.bicgstab, la.minres):
        lazy, _ = solver(A, mx_of(b, F64), rtol=1e-6, maxiter=300)
        stepped, _ = solver(A, mx_of(b, F64), rtol=1e-6, maxiter=300, callback=lambda xk: None)
        np.testing.assert_array_equal(np.array(lazy), np.array(stepped))


@pytest.mark.parametrize("name", ["cg", "bicgstab", "minres"])
def test_maxiter_reached_is_reported(name):
    S, b = poisson2d(10), rhs(100)
    x, info = getattr(la, name)(ms.csr_array(S), mx_of(b, F64), rtol=1e-12, maxiter=3)
    assert info == 3
    assert residual(S, x, b) > 1e-12 * np.linalg.norm(b)
    _, info_s = getattr(sla, name)(S, b, rtol=1e-12, maxiter=3)
    assert info_s > 0


@pytest.mark.parametrize("name", ["cg", "bicgstab", "minres", "gmres"])
def test_float32_stops_at_its_floor(name):
    """No float32 x meets a tolerance below float32's floor (the exact solution rounded to
    float32 misses it): the solve stops near that floor after a few fresh starts (cycles for
    gmres) and says so (info != 0), rather than running on to maxiter; 10x above the floor,
    the true residual meets the tolerance."""
    S = poisson2d(48)
    b = rhs(S.shape[0])
    exact = sla.spsolve(S.tocsc(), b)
    floor = residual(S, exact.astype(np.float32), b) / np.linalg.norm(b)
    steps = []
    sla.cg(S, b, rtol=floor, callback=steps.append)  # float64 iterations to reach the floor
    A, b32 = ms.csr_array(S, dtype=mx.float32), mx_of(b, mx.float32)
    x, info = getattr(la, name)(A, b32, rtol=floor / 10)
    assert info != 0
    assert residual(S, x, b) <= 6 * floor * np.linalg.norm(b)
    assert abs(info) <= (50 if name == "gmres" else 3 * len(steps))  # gmres counts cycles
    x, info = getattr(la, name)(A, b32, rtol=10 * floor)
    assert info == 0 and residual(S, x, b) <= 10 * floor * np.linalg.norm(b)


def test_gmres_info_and_restart_match_scipy():
    S, b = nonsymmetric(8, seed=3), rhs(64)
    x, info = la.gmres(ms.csr_array(S), mx_of(b, F64), rtol=1e-10, restart=5, maxiter=2)
    _, info_s = sla.gmres(S, b, rtol=1e-10, restart=5, maxiter=2)
    assert info == info_s == 2
    x, info = la.gmres(ms.csr_array(S), mx_of(b, F64), rtol=1e-10, restart=64)
    assert info == 0 and residual(S, x, b) <= 1e-10 * np.linalg.norm(b)
    norms = []
    la.gmres(ms.csr_array(S), mx_of(b, F64), rtol=1e-8, restart=10, callback=norms.append,
             callback_type="pr_norm")
    assert norms and norms[-1] <= 1e-8 * (1 + 1e-6) and all(np.diff(norms) <= 1e-12)


def test_bicgstab_breakdown():
    """rhat . A p = 0 at the first step: scipy and we both report that breakdown, -11."""
    S = sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))
    b = np.array([1.0, 0.0])
    x, info = la.bicgstab(ms.csr_array(S), mx_of(b, F64))
    assert info == -11 == sla.bicgstab(S, b)[1]
    x, info = la.bicgstab(ms.csr_array(S), mx_of(np.array([0.0, 1.0]), F64), x0=mx_of([1.0, 1.0], F64))
    assert info == sla.bicgstab(S, np.array([0.0, 1.0]), x0=np.array([1.0, 1.0]))[1]


def test_zero_rhs_and_exact_start():
    S = poisson2d(4)
    for solver in (la.cg, la.bicgstab, la.gmres, la.minres):
        x, info = solver(ms.csr_array(S), mx.zeros((16,), dtype=F64))
        assert info == 0 and not np.any(np.array(x))


def test_minres_shift():
    S, b = poisson2d(6), rhs(36)
    x, info = la.minres(ms.csr_array(S), mx_of(b, F64), shift=1.5, rtol=1e-10)
    Sh = S - 1.5 * sp.eye_array(36)
    assert info == 0 and residual(Sh, x, b) <= 1e-10 * np.linalg.norm(b)


def test_solvers_take_operators_and_dense_matrices():
    S, b = spd(30, seed=2), rhs(30)
    ref = np.linalg.solve(S.toarray(), b)
    for A in (S, S.toarray(), mx.array(S.toarray(), dtype=F64), la.aslinearoperator(ms.csr_array(S))):
        for solver in (la.cg, la.gmres):
            x, info = solver(A, mx_of(b, F64), rtol=1e-10)
            assert info == 0
            np.testing.assert_allclose(np.array(x), ref, atol=1e-7)
    col, info = la.cg(S, mx_of(b, F64)[:, None], rtol=1e-10)  # scipy takes (n, 1) too
    assert info == 0 and col.shape == (30,)


# ---- preconditioners

def varying_spd(nx):
    """Poisson with a varying diagonal, so Jacobi is not a multiple of the identity."""
    P = poisson2d(nx)
    return (P + sp.diags_array(np.linspace(0.0, 20.0, P.shape[0]) ** 2)).tocsr()


@pytest.mark.parametrize("precond,kw", [("jacobi", {}), ("ilu0", {}), ("ichol0", {}),
                                        ("ilu0", {"sweeps": 6}), ("ichol0", {"sweeps": 6})],
                         ids=["jacobi", "ilu0", "ichol0", "ilu0-sweeps", "ichol0-sweeps"])
def test_preconditioners_cut_iterations(precond, kw):
    S = varying_spd(12)
    b = rhs(S.shape[0])
    A = ms.csr_array(S)
    M = getattr(la, precond)(A, **kw)
    plain, pre = [], []
    la.cg(A, mx_of(b, F64), rtol=1e-8, callback=plain.append)
    x, info = la.cg(A, mx_of(b, F64), rtol=1e-8, M=M, callback=pre.append)
    assert info == 0 and residual(S, x, b) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-6)
    assert len(pre) < len(plain)
    for solver in (la.bicgstab, la.gmres, la.minres):
        x, info = solver(A, mx_of(b, F64), rtol=1e-8, M=M)
        assert info == 0 and residual(S, x, b) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-6)


def dense_operator(M, n):
    return np.array(M.matmat(mx.eye(n, dtype=F64)))


@needs_cpu
def test_ilu0_and_ichol0_factors_match_a_on_its_pattern():
    """ILU(0): (L U)_ij = a_ij on A's pattern; IC(0): (L L^T)_ij = a_ij on it."""
    S = nonsymmetric(5, seed=4)
    n = S.shape[0]
    LU = np.linalg.inv(dense_operator(la.ilu0(S), n))
    on = S.toarray() != 0
    np.testing.assert_allclose(LU[on], S.toarray()[on], atol=1e-10)
    P = varying_spd(5)
    LLt = np.linalg.inv(dense_operator(la.ichol0(P), n))
    np.testing.assert_allclose(LLt, LLt.T, atol=1e-10)
    on = P.toarray() != 0
    np.testing.assert_allclose(LLt[on], P.toarray()[on], atol=1e-10)
    np.testing.assert_allclose(dense_operator(la.jacobi(P), n), np.diag(1 / P.diagonal()))


def test_preconditioner_errors():
    with pytest.raises(ValueError, match=r"\[jacobi\] A has a zero diagonal entry in row 1"):
        la.jacobi(sp.csr_array(np.array([[1.0, 1.0], [1.0, 0.0]])))
    with pytest.raises(ValueError, match=r"\[ichol0\] pivot"):
        la.ichol0(indefinite(4))
    with pytest.raises(ValueError, match=r"\[ilu0\] A has no stored diagonal entry in row 0"):
        la.ilu0(sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]])))
    with pytest.raises(ValueError, match=r"\[ilu0\] sweeps must be a non-negative integer"):
        la.ilu0(poisson2d(3), sweeps=-1)
    with pytest.raises(TypeError, match=r"\[jacobi\] A must be a sparse array"):
        la.jacobi(np.eye(3))
    with pytest.raises(ValueError, match=r"\[cg\] M must have shape \(9, 9\)"):
        la.cg(poisson2d(3), rhs(9), M=la.jacobi(poisson2d(2)))


# ---- gradients of solves, against finite differences of a dense solve

def fd(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


GRAD_CASES = [("cg", "spd"), ("minres", "spd"), ("bicgstab", "nonsym"), ("gmres", "nonsym"),
              ("spsolve", "nonsym"), ("spsolve_triangular", "nonsym")]


@pytest.mark.skipif(GPU_TESTS, reason="finite differences need float64")
@pytest.mark.parametrize("name,kind", GRAD_CASES)
def test_solve_gradients_against_finite_differences(name, kind):
    n = 9
    rng = np.random.default_rng(7)
    S = spd(n, seed=3) if kind == "spd" else (sp.random_array((n, n), density=0.35, rng=3)
                                              + 3 * sp.eye_array(n)).tocsr()
    S.sort_indices()
    A = ms.csr_array(S)
    b, u = rng.standard_normal(n), rng.standard_normal(n)
    solver = getattr(la, name)
    kw = {"rtol": 1e-13} if name not in ("spsolve", "spsolve_triangular") else {}

    def ours(values, bb):
        x = solver(A.with_data(values), bb, **kw)
        x = x[0] if isinstance(x, tuple) else x
        return mx.sum(mx.array(u) * x)

    dense = (lambda d: np.tril(d)) if name == "spsolve_triangular" else (lambda d: d)

    def reference(values, bb):
        M = sp.csr_array((values, S.indices, S.indptr), shape=(n, n)).toarray()
        return u @ np.linalg.solve(dense(M), bb)

    gv, gb = mx.grad(ours, argnums=(0, 1))(mx_of(S.data, mx.float64), mx_of(b, mx.float64))
    np.testing.assert_allclose(np.array(gb), fd(lambda bb: reference(S.data, bb), b), atol=1e-7)
    np.testing.assert_allclose(np.array(gv), fd(lambda v: reference(v, b), S.data), atol=1e-7)


@pytest.mark.skipif(GPU_TESTS, reason="finite differences need float64")
def test_gradient_with_duplicates_and_operator_rhs_only():
    """Duplicate entries each get the gradient of their sum; an operator A gives b's only."""
    case = random_case((8, 8), "duplicates", density=0.5, seed=2)
    dense = case.dense() + 4 * np.eye(8)
    A = ms.csr_array((mx_of(case.data, mx.float64), case.indices, case.indptr), shape=(8, 8))
    A = A + ms.eye(8, dtype=mx.float64) * 4.0
    b, u = rhs(8, 3), rhs(8, 4)
    g = mx.grad(lambda d: mx.sum(mx.array(u) * la.gmres(A.with_data(d), mx_of(b, mx.float64),
                                                        rtol=1e-13)[0]))(A.data)
    x, ubar = np.linalg.solve(dense, b), np.linalg.solve(dense.T, u)
    rows = np.repeat(np.arange(8), np.diff(np.array(A.indptr)))
    np.testing.assert_allclose(np.array(g), -ubar[rows] * x[np.array(A.indices)], atol=1e-9)
    op = la.aslinearoperator(mx.array(dense, dtype=mx.float64))
    gb = mx.grad(lambda bb: mx.sum(mx.array(u) * la.bicgstab(op, bb, rtol=1e-13)[0]))(
        mx_of(b, mx.float64))
    np.testing.assert_allclose(np.array(gb), ubar, atol=1e-7)


# ---- direct solves

@needs_cpu
def test_direct_solves_match_scipy():
    S = nonsymmetric(6, seed=1)
    A, b = ms.csr_array(S), rhs(36)
    B = np.random.default_rng(2).standard_normal((36, 3))
    np.testing.assert_allclose(np.array(la.spsolve(A, mx_of(b, F64))), sla.spsolve(S.tocsc(), b),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(la.spsolve(A, mx_of(B, F64))), sla.spsolve(S.tocsc(), B),
                               rtol=1e-12, atol=1e-12)
    lu = la.splu(A)
    assert lu.shape == (36, 36)
    np.testing.assert_allclose(np.array(lu.solve(mx_of(b, F64), trans="T")),
                               np.linalg.solve(S.toarray().T, b), atol=1e-12)
    solve = la.factorized(A)
    np.testing.assert_allclose(np.array(solve(mx_of(b, F64))), np.linalg.solve(S.toarray(), b),
                               atol=1e-12)
    x32 = la.spsolve(ms.csr_array(S, dtype=mx.float32), mx_of(b, mx.float32))
    assert x32.dtype == mx.float32


@needs_cpu
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_spsolve_triangular_matches_scipy(lower, unit):
    S = nonsymmetric(5, seed=2)
    b = rhs(25)
    T = sp.tril(S, format="csr") if lower else sp.triu(S, format="csr")
    got = la.spsolve_triangular(ms.csr_array(S), mx_of(b, F64), lower=lower, unit_diagonal=unit)
    ref = sla.spsolve_triangular(T, b, lower=lower, unit_diagonal=unit)
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-12, atol=1e-12)


@needs_cpu
def test_direct_errors():
    singular = sp.csr_array(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ValueError, match=r"\[spsolve\] .*singular"):
        la.spsolve(singular, np.ones(2))
    with pytest.raises(ValueError, match=r"\[spsolve_triangular\] A is singular"):
        la.spsolve_triangular(sp.csr_array(np.array([[0.0, 0.0], [1.0, 1.0]])), np.ones(2))
    with pytest.raises(ValueError, match=r"\[spsolve\] A must be square"):
        la.spsolve(sp.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match=r"\[spsolve\] b must have shape"):
        la.spsolve(poisson2d(2), np.ones(5))
    with pytest.raises(ValueError, match=r"\[splu\] trans must be"):
        la.splu(poisson2d(2)).solve(np.ones(4), trans="X")


@pytest.mark.skipif(not GPU_TESTS, reason="the GPU refusal needs a GPU")
def test_direct_solves_refuse_the_gpu():
    with pytest.raises(RuntimeError, match=r"\[spsolve\] has no GPU path"):
        la.spsolve(poisson2d(3), np.ones(9, np.float32))


# ---- eigenvalues and singular values

@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
def test_eigsh_matches_numpy(which):
    S = poisson2d(10)
    w, v = la.eigsh(ms.csr_array(S), k=4, which=which)
    ref = sla.eigsh(S, k=4, which=which, return_eigenvectors=False)
    np.testing.assert_allclose(np.array(w), np.sort(ref), atol=1e-10)
    assert np.all(np.diff(np.array(w)) >= 0)
    V = np.array(v)
    np.testing.assert_allclose(S @ V, V * np.array(w), atol=1e-9)
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-10)


def test_eigsh_options():
    S = spd(50, seed=5)
    ev = np.linalg.eigvalsh(S.toarray())
    w = la.eigsh(S, k=2, which="LA", ncv=8, return_eigenvectors=False)
    np.testing.assert_allclose(np.array(w), ev[-2:], atol=1e-9)
    w32 = la.eigsh(ms.csr_array(S, dtype=mx.float32), k=3, return_eigenvectors=False,
                   v0=np.ones(50, np.float32))
    assert w32.dtype == mx.float32
    np.testing.assert_allclose(np.array(w32), ev[-3:], rtol=1e-5)
    if not GPU_TESTS:
        w, v = la.eigsh(ms.csr_array(S), k=3, sigma=1.7)
        nearest = ev[np.argsort(np.abs(ev - 1.7))[:3]]
        np.testing.assert_allclose(np.array(w), np.sort(nearest), atol=1e-9)


def test_eigsh_no_convergence_and_errors():
    with pytest.raises(sla.ArpackNoConvergence):
        la.eigsh(poisson2d(12), k=3, which="SM", ncv=7, maxiter=1)
    with pytest.raises(ValueError, match=r"\[eigsh\] k must be"):
        la.eigsh(poisson2d(2), k=4)
    with pytest.raises(ValueError, match=r"\[eigsh\] which must be"):
        la.eigsh(poisson2d(2), k=1, which="XX")
    with pytest.raises(ValueError, match=r"\[eigsh\] generalised problems"):
        la.eigsh(poisson2d(2), k=1, M=poisson2d(2))
    with pytest.raises(ValueError, match=r"\[eigsh\] A must be square"):
        la.eigsh(sp.random_array((3, 4), density=0.5, rng=0), k=1)


@pytest.mark.parametrize("shape", [(40, 15), (15, 40)])
def test_svds_matches_numpy(shape):
    S = sp.random_array(shape, density=0.3, rng=6).tocsr()
    u, s, vt = la.svds(ms.csr_array(S), k=3)
    ref = np.linalg.svd(S.toarray(), compute_uv=False)
    np.testing.assert_allclose(np.array(s), np.sort(ref[:3]), atol=1e-10)
    U, Vt = np.array(u), np.array(vt)
    np.testing.assert_allclose(S @ Vt.T, U * np.array(s), atol=1e-9)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-9)
    s_only = la.svds(S, k=2, return_singular_vectors=False)
    np.testing.assert_allclose(np.array(s_only), np.sort(ref[:2]), atol=1e-10)
    with pytest.raises(ValueError, match=r"\[svds\] k must be"):
        la.svds(S, k=16)


# ---- norms

@pytest.mark.parametrize("variant", ["canonical", "duplicates", "unsorted", "explicit_zeros",
                                     "empty_rows"])
def test_norm_matches_scipy(variant):
    case = random_case((9, 7), variant, seed=3)
    A, S = case.csr(F64), case.scipy()
    for ord in (None, "fro", 1, -1, math.inf, -math.inf):
        np.testing.assert_allclose(float(la.norm(A, ord)), sla.norm(S, ord), rtol=1e-6)
    for axis in (0, 1, -1, (0,)):
        for ord in (None, 1, 2, 3, 0.5, 0, math.inf, -math.inf):
            np.testing.assert_allclose(np.array(la.norm(A, ord, axis=axis)),
                                       sla.norm(S, ord, axis=axis[0] if isinstance(axis, tuple) else axis),
                                       rtol=1e-6, atol=1e-12)


def test_norm_gradient_and_errors():
    S = sp.random_array((6, 5), density=0.5, rng=1).tocsr()
    A = ms.csr_array(S, dtype=F64)
    g = mx.grad(lambda d: la.norm(A.with_data(d)))(A.data)
    np.testing.assert_allclose(np.array(g), S.data / np.linalg.norm(S.data), rtol=1e-6)
    with pytest.raises(NotImplementedError, match=r"\[norm\] the 2-norm"):
        la.norm(A, 2)
    with pytest.raises(ValueError, match=r"\[norm\] invalid matrix norm order"):
        la.norm(A, 3)
    with pytest.raises(ValueError, match=r"\[norm\] axis must be"):
        la.norm(A, axis=2)
    with pytest.raises(TypeError, match=r"\[norm\] x must be a sparse array"):
        la.norm(np.eye(3))


# ---- LinearOperator

def test_linear_operator():
    S = nonsymmetric(4)
    x, y = rhs(16, 2), rhs(16, 3)
    for A in (ms.csr_array(S), S, S.toarray(), mx.array(S.toarray(), dtype=F64)):
        op = la.aslinearoperator(A)
        assert op.shape == (16, 16)
        np.testing.assert_allclose(np.array(op.matvec(mx_of(x, F64))), S @ x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.array(op.rmatvec(mx_of(y, F64))), S.T @ y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.array(op.T @ mx_of(y, F64)), S.T @ y, rtol=1e-6, atol=1e-6)
        X = np.stack([x, y], 1)
        np.testing.assert_allclose(np.array(op @ mx_of(X, F64)), S @ X, rtol=1e-6, atol=1e-6)
    custom = la.LinearOperator((16, 16), matvec=lambda v: mx.array(S.toarray(), dtype=F64) @ v,
                               dtype=F64)
    np.testing.assert_allclose(np.array(custom.matmat(mx_of(np.eye(16), F64))), S.toarray(),
                               atol=1e-12)
    np.testing.assert_allclose(np.array((custom @ custom).matvec(mx_of(x, F64))), S @ (S @ x),
                               rtol=1e-9)
    assert la.aslinearoperator(custom) is custom
    with pytest.raises(NotImplementedError, match=r"\[LinearOperator\] the transpose needs rmatvec"):
        custom.T
    with pytest.raises(ValueError, match=r"\[matvec\] dimension mismatch"):
        custom.matvec(mx.zeros((3,)))
    with pytest.raises(TypeError, match=r"\[aslinearoperator\] cannot make"):
        la.aslinearoperator("A")


# ---- bad input

def test_solver_errors():
    S = poisson2d(3)
    with pytest.raises(ValueError, match=r"\[cg\] A must be square"):
        la.cg(sp.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match=r"\[gmres\] b must have shape \(9,\)"):
        la.gmres(S, np.ones(4))
    with pytest.raises(ValueError, match=r"\[bicgstab\] x0 must have shape"):
        la.bicgstab(S, np.ones(9), x0=np.ones(3))
    with pytest.raises(TypeError, match=r"\[minres\] .*float16 is too narrow"):
        la.minres(ms.csr_array(S, dtype=mx.float16), np.ones(9, np.float32))
    with pytest.raises(ValueError, match=r"\[cg\] rtol and atol must be non-negative"):
        la.cg(S, np.ones(9), rtol=-1)
    with pytest.raises(ValueError, match=r"\[cg\] maxiter must be a non-negative integer"):
        la.cg(S, np.ones(9), maxiter=2.5)
    with pytest.raises(ValueError, match=r"\[gmres\] callback_type must be"):
        la.gmres(S, np.ones(9), callback_type="y")
    with pytest.raises(TypeError, match=r"\[cg\] A must be a sparse array, a dense matrix"):
        la.cg("A", np.ones(9))


@pytest.mark.parametrize("name", ["cg", "bicgstab", "minres"])
def test_fused_step_matches_the_plain_one(name, monkeypatch):
    """Large systems run an mx.compile'd step: the same solution and gradient (FUSE_MIN is
    lowered so that a small system takes that path)."""
    from mlx_sparse.linalg import _iterative

    S, b = spd(40, seed=4), rhs(40)
    A = ms.csr_array(S, dtype=F64)
    solver = getattr(la, name)

    def solve_and_grad():
        x, info = solver(A, mx_of(b, F64), rtol=1e-10)
        g = mx.grad(lambda v: mx.sum(solver(A.with_data(v), mx_of(b, F64), rtol=1e-10)[0]))(A.data)
        return np.array(x), info, np.array(g)

    x, info, g = solve_and_grad()
    monkeypatch.setattr(_iterative, "FUSE_MIN", 0)
    xf, info_f, gf = solve_and_grad()
    assert info == info_f == 0
    np.testing.assert_allclose(xf, x, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(gf, g, rtol=1e-8, atol=1e-8)
