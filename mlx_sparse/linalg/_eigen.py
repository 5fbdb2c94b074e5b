"""eigsh and svds by the thick-restart Lanczos method (Wu and Simon, 2000).

The basis grows by lazy Arnoldi steps (_krylov.extend; orthogonalising against the whole basis
keeps a symmetric operator's basis orthonormal, where plain Lanczos loses it); the small
projected matrix is solved on the host. After each cycle the wanted Ritz vectors and the
last basis vector start the next one. Results carry no gradient.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ._common import from_host, solve_dtype
from ._krylov import extend
from ._operator import _as_csr, aslinearoperator

_WHICH = ("LM", "SM", "LA", "SA", "BE")


def eigsh(A, k=6, M=None, sigma=None, which="LM", v0=None, ncv=None, maxiter=None, tol=0,
          return_eigenvectors=True):
    """k eigenvalues (and eigenvectors) of a symmetric A, as ``scipy.sparse.linalg.eigsh``.

    Parameters
    ----------
    A : CSRArray, scipy.sparse array, dense matrix or LinearOperator
        Symmetric, (n, n).
    k : int
        How many eigenpairs, ``1 <= k < n``.
    M : None
        Generalised problems are not supported (a ValueError says so).
    sigma : float, optional
        Shift-invert: the eigenvalues nearest sigma, through an LU of ``A - sigma I``
        (:func:`splu`, CPU only).
    which : {"LM", "SM", "LA", "SA", "BE"}
        Largest / smallest magnitude, largest / smallest algebraic, both ends.
    v0 : array, optional
        The starting vector (default: seeded random).
    ncv : int, optional
        Basis size per cycle (default ``min(n, max(2 k + 1, 20))``).
    maxiter : int, optional
        Restart cycles (default ``max(100, n)``).
    tol : float
        Relative accuracy: a pair is converged when its residual ``||A y - theta y||`` is at
        most ``tol`` (0: a few machine epsilons) times the largest Ritz value's magnitude.

    Returns
    -------
    w : mx.array
        (k,) eigenvalues in ascending order.
    v : mx.array
        (n, k) orthonormal eigenvectors (when ``return_eigenvectors``).

    Raises scipy's ``ArpackNoConvergence`` (with the converged pairs) after maxiter cycles.
    """
    op = "eigsh"
    if M is not None:
        raise ValueError("[eigsh] generalised problems (M) are not supported: pass M=None")
    if which not in _WHICH:
        raise ValueError(f"[eigsh] which must be one of {_WHICH}, got {which!r}")
    Aop = _operator(A, op)
    n = Aop.shape[0]
    if sigma is None:
        apply = Aop.matvec
        dtype = solve_dtype([Aop.dtype], op)
    else:
        apply, dtype = _shift_invert(A, float(sigma), op)
        which = {"LM": "LM", "SM": "SM", "LA": "SA", "SA": "LA", "BE": "BE"}[which]
    theta, Y = _lanczos(lambda v: apply(v).astype(dtype), n, _check_k(k, n, op), which, v0,
                        ncv, maxiter, tol, dtype, op)
    if sigma is not None:  # nu = 1 / (lambda - sigma)
        theta = float(sigma) + 1.0 / theta
    order = np.argsort(theta)
    w = from_host(theta[order], dtype)
    return (w, Y[:, order.tolist()]) if return_eigenvectors else w


def svds(A, k=6, ncv=None, tol=0, which="LM", v0=None, maxiter=None, return_singular_vectors=True):
    """k singular values (and vectors) of A, as ``scipy.sparse.linalg.svds``.

    The eigenpairs of ``A^T A`` (or ``A A^T``, the smaller) by :func:`eigsh`; singular values
    below about ``sqrt(eps) * ||A||`` lose accuracy that way, so ``which="SM"`` suits only
    well-conditioned A.

    Returns
    -------
    u : mx.array
        (m, k) left singular vectors (when ``return_singular_vectors``).
    s : mx.array
        (k,) singular values, ascending.
    vt : mx.array
        (k, n) right singular vectors.
    """
    op = "svds"
    if which not in ("LM", "SM"):
        raise ValueError(f"[svds] which must be 'LM' or 'SM', got {which!r}")
    if return_singular_vectors not in (True, False, "u", "vh"):
        raise ValueError(f"[svds] return_singular_vectors must be True, False, 'u' or 'vh', got {return_singular_vectors!r}")
    Aop = _operator(A, op, square=False)
    m, n = Aop.shape
    if Aop._rmatvec is None:
        raise ValueError("[svds] A needs rmatvec (the transpose product)")
    k = _check_k(k, min(m, n) + 1, op)
    tall = m >= n
    gram = (lambda v: Aop.rmatvec(Aop.matvec(v))) if tall else (lambda v: Aop.matvec(Aop.rmatvec(v)))
    dtype = solve_dtype([Aop.dtype], op)
    theta, Y = _lanczos(lambda v: gram(v).astype(dtype), min(m, n), k,
                        "LA" if which == "LM" else "SA", v0, ncv, maxiter, tol, dtype, op)
    order = np.argsort(theta)
    s_host = np.sqrt(np.maximum(theta[order], 0.0))
    s = from_host(s_host, dtype)
    if return_singular_vectors is False:
        return s
    Y = Y[:, order.tolist()]
    other = (Aop.matmat(Y) if tall else Aop.rmatmat(Y)) / mx.maximum(s, mx.finfo(dtype).eps)
    u, v = (other, Y) if tall else (Y, other)
    return u, s, v.T


def _operator(A, op, square=True):
    csr = _as_csr(A)
    Aop = aslinearoperator(csr if csr is not None else A)
    if square and Aop.shape[0] != Aop.shape[1]:
        raise ValueError(f"[{op}] A must be square, got shape {Aop.shape}")
    return Aop


def _check_k(k, n, op):
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"[{op}] k must be an integer with 1 <= k < {n}, got {k!r}")
    return int(k)


def _shift_invert(A, sigma, op):
    from .._graph import eye
    from ._direct import splu

    csr = _as_csr(A)
    if csr is None:
        raise TypeError(f"[{op}] sigma (shift-invert) needs a sparse A, got {type(A).__name__}")
    lu = splu(csr - eye(csr.shape[0], dtype=csr.dtype) * sigma, _op=op)
    return (lambda v: mx.stop_gradient(lu.solve(v))), lu._dtype


def _pick(theta, k, which):
    """Indices of the k wanted Ritz values."""
    if which == "BE":
        order = np.argsort(theta)
        hi, lo = (k + 1) // 2, k // 2
        return np.concatenate([order[:lo], order[len(order) - hi:]])
    key = {"LM": -np.abs(theta), "SM": np.abs(theta), "LA": -theta, "SA": theta}[which]
    return np.argsort(key, kind="stable")[:k]


def _lanczos(apply, n, k, which, v0, ncv, maxiter, tol, dtype, op):
    """(theta (k,), Y (n, k) mx): k wanted Ritz pairs of the symmetric operator ``apply``."""
    m = min(n, max(2 * k + 1, 20) if ncv is None else int(ncv))
    if not k < m <= n:
        raise ValueError(f"[{op}] ncv must satisfy k < ncv <= n ({k} < ncv <= {n}), got {ncv}")
    maxiter = max(100, n) if maxiter is None else int(maxiter)
    if v0 is None:
        v = from_host(np.random.default_rng(0).uniform(-1, 1, n), dtype)
    else:
        v = mx.array(np.asarray(v0)) if not isinstance(v0, mx.array) else v0
        if v.shape != (n,):
            raise ValueError(f"[{op}] v0 must have shape ({n},), got {tuple(v.shape)}")
        v = v.astype(dtype)
    V = [v / mx.linalg.norm(v)]
    T = np.zeros((m + 1, m))
    start = 0
    eps = float(np.finfo(np.float64 if dtype == mx.float64 else np.float32).eps)
    rel = max(float(tol), 8 * eps)
    for cycle in range(maxiter):
        V, T = extend(apply, V, T, start, m)
        Tm = np.triu(T[:m, :m]) + np.triu(T[:m, :m], 1).T  # symmetric: mirror the upper part
        theta, S = np.linalg.eigh(Tm)
        idx = _pick(theta, k, which)
        resid = np.abs(T[m, m - 1] * S[m - 1, idx])
        scale = max(np.abs(theta).max(), np.finfo(np.float64).tiny)
        converged = np.all(resid <= rel * scale) or T[m, m - 1] == 0 or m == n
        if converged or cycle == maxiter - 1:
            break
        # thick restart: keep the wanted Ritz vectors and half the rest nearest them
        p = min(m - 1, k + (m - k) // 2)
        keep = _pick(theta, p, which)
        Vm = mx.stack(V[:m])
        kept = from_host(S[:, keep].T, dtype) @ Vm
        V = [kept[i] for i in range(p)] + [V[m]]
        coupling = T[m, m - 1] * S[m - 1, keep]
        T = np.zeros((m + 1, m))
        T[np.arange(p), np.arange(p)] = theta[keep]
        T[:p, p] = coupling  # the arrow; extend refills column p from the vectors themselves
        start = p
    if not converged:
        from scipy.sparse.linalg import ArpackNoConvergence

        done = idx[resid <= rel * scale]
        Y = from_host(S[:, done], dtype).T @ mx.stack(V[:m])
        raise ArpackNoConvergence(f"[{op}] {done.size} of {k} eigenpairs converged in {maxiter} "
                                  "restart cycles (raise maxiter or ncv)",
                                  theta[done], np.array(Y.T))
    Y = (from_host(S[:, idx].T, dtype) @ mx.stack(V[:m])).T
    return theta[idx], Y
