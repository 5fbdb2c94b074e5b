"""Restarted GMRES as MLX graphs: one Arnoldi cycle is lazy (_krylov.extend), the small
least-squares problem is solved on the host, one sync per cycle."""

from __future__ import annotations

import warnings

import mlx.core as mx
import numpy as np

from ._common import (SYSTEM_PARAMS, check_maxiter, from_host, prepare, tolerance,
                      with_implicit_gradient)
from ._iterative import STALL, _apply, _preconditioner
from ._krylov import extend
from ._operator import aslinearoperator


def gmres(A, b, x0=None, *, rtol=1e-5, atol=0.0, restart=None, maxiter=None, M=None,
          callback=None, callback_type=None):
    """Solve ``A x = b`` by restarted GMRES, as ``scipy.sparse.linalg.gmres``.

    Each cycle builds ``restart`` Arnoldi vectors lazily (Gram-Schmidt run twice, which keeps
    them orthogonal in floating point), then the host solves the (restart+1, restart)
    least-squares problem and keeps the fewest steps that meet the tolerance. M is applied on
    the right, so the residual tested is the true one, ``||b - A x||``.
    {params}    restart : int, optional
        Arnoldi steps per cycle (default 20, at most n).
    maxiter : int, optional
        The most cycles (default 10 n).
    M : sparse array, dense matrix or LinearOperator, optional
        A preconditioner approximating A^-1.
    callback : callable, optional
        With ``callback_type="x"``, ``callback(xk)`` after each cycle; with ``"pr_norm"``
        (or ``"legacy"``, the default) ``callback(residual_norm / ||b||)`` for each
        Arnoldi step, after its cycle.

    Returns
    -------
    x : mx.array
        The solution, (n,); differentiable in b and in a sparse A's values (implicit rule).
    info : int
        0 when the true residual meets the tolerance, else the cycles done (maxiter, or
        fewer when two cycles in a row met tol in the least squares but not in the true
        residual: the floor of the precision, float32's for a tight rtol).
    """
    op = "gmres"
    if callback_type not in (None, "x", "pr_norm", "legacy"):
        raise ValueError(f"[gmres] callback_type must be 'x', 'pr_norm' or 'legacy', got {callback_type!r}")
    csr, Aop, b, x, dtype = prepare(A, b, x0, op)
    n = b.shape[0]
    restart = min(20 if restart is None else int(restart), max(n, 1))
    if restart < 1:
        raise ValueError(f"[gmres] restart must be positive, got {restart}")
    maxiter = check_maxiter(maxiter, 10 * n, op)
    tol = tolerance(b, rtol, atol, op)
    settings = (restart, maxiter, callback, callback_type or "legacy")
    xs, info = _gmres(Aop, _preconditioner(M, n, dtype, op), mx.stop_gradient(b), x, tol, *settings)

    def adjoint_solve(v):
        Mt = None if M is None else aslinearoperator(M).T
        y, adj_info = _gmres(Aop.T, _preconditioner(Mt, n, dtype, op), v.astype(dtype),
                             mx.zeros((n,), dtype=dtype), tolerance(v, rtol, atol, op),
                             restart, maxiter, None, "x")
        if adj_info != 0:
            warnings.warn(f"[gmres] the adjoint solve of the gradient did not converge "
                          f"(info={adj_info})", stacklevel=2)
        return y

    return with_implicit_gradient(csr, Aop, b, xs, adjoint_solve), info


def _gmres(A, M, b, x, tol, restart, maxiter, callback, callback_type):
    bnorm = float(mx.linalg.norm(b).item()) or 1.0
    cycles, best, stalls, met = 0, float("inf"), 0, False
    for _ in range(maxiter + 1):
        r = b - A.matvec(x)
        beta = float(mx.linalg.norm(r).item())
        if beta <= tol:
            return x, 0
        # a cycle whose least squares met tol but whose true residual gained less than STALL
        # stalled: twice in a row means the precision's floor (float32), not slow progress
        stalls = stalls + 1 if met and beta > STALL * best else 0
        best = min(best, beta)
        if _ == maxiter or stalls == 2:
            break
        V, H = extend(lambda v: A.matvec(_apply(M, v)), [r / beta], np.zeros((restart + 1, restart)), 0,
                      restart)
        k, y, res = _least_squares(H, beta, tol)
        cycles, met = cycles + 1, k > 0 and res[k - 1] <= tol
        x = x + _apply(M, mx.matmul(from_host(y, x.dtype), mx.stack(V[:k]))) if k else x
        mx.eval(x)
        if callback is not None:
            if callback_type == "x":
                callback(x)
            else:
                for value in res[:k]:
                    callback(value / bnorm)
    return x, max(cycles, 1)


def _least_squares(H, beta, tol):
    """(k, y, residuals): Givens rotations column by column; k is the first step whose
    residual ``|g[k]|`` meets tol (else all), y minimizes ``||beta e1 - H[:k+1, :k] y||``."""
    from scipy.linalg import solve_triangular

    m = H.shape[1]
    R = H.copy()
    g = np.zeros(m + 1)
    g[0] = beta
    rotations, res = [], []
    k = m
    for j in range(m):
        for i, (c, s) in enumerate(rotations):  # the earlier rotations, on the new column
            R[i, j], R[i + 1, j] = c * R[i, j] + s * R[i + 1, j], -s * R[i, j] + c * R[i + 1, j]
        d = np.hypot(R[j, j], R[j + 1, j])
        c, s = (R[j, j] / d, R[j + 1, j] / d) if 0 < d < np.inf else (1.0, 0.0)
        rotations.append((c, s))
        R[j, j], R[j + 1, j] = c * R[j, j] + s * R[j + 1, j], 0.0
        g[j], g[j + 1] = c * g[j], -s * g[j]
        res.append(abs(g[j + 1]))
        if not res[-1] > tol:  # met, or not finite (a breakdown of the basis)
            k = j + 1
            break
    diag = np.diag(R[:k, :k])
    bad = np.flatnonzero((diag == 0) | ~np.isfinite(diag))
    if bad.size:  # a singular or broken step: keep the steps before it
        k = int(bad[0])
    return k, solve_triangular(R[:k, :k], g[:k]) if k else np.zeros(0), res


gmres.__doc__ = gmres.__doc__.replace("    {params}", SYSTEM_PARAMS.format(kind="").rstrip("\n") + "\n")
