"""Preconditioners: jacobi, ilu0 and ichol0, each a LinearOperator approximating A^-1.

The incomplete factors are found on the host (a sequential recurrence over the rows, in
float64). Applying them takes two triangular solves: exact ones on the CPU (one host sync per
application), or with ``sweeps=k`` k Jacobi sweeps of each triangle, lazy MLX ops on any
device (the usual GPU choice: a fixed polynomial in the factors, so still a linear operator,
and symmetric for ichol0).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .._base import _to_numpy
from ._common import from_host
from ._operator import LinearOperator, _as_csr


def _square_csr(A, op: str):
    csr = _as_csr(A)
    if csr is None:
        raise TypeError(f"[{op}] A must be a sparse array (CSRArray or scipy.sparse), got {type(A).__name__}")
    if csr.shape[0] != csr.shape[1]:
        raise ValueError(f"[{op}] A must be square, got shape {csr.shape}")
    return csr


def _host_scipy(csr):
    """A canonical float64 scipy copy (duplicates summed, indices sorted)."""
    S = csr.toscipy().astype(np.float64)
    S.sum_duplicates()
    return S


def jacobi(A) -> LinearOperator:
    """The Jacobi (diagonal) preconditioner: ``M r = r / diag(A)``.

    Raises ValueError when a diagonal entry is zero (duplicates are summed first).
    """
    csr = _square_csr(A, "jacobi")
    d = _host_scipy(csr).diagonal()
    zero = np.flatnonzero(d == 0)
    if zero.size:
        raise ValueError(f"[jacobi] A has a zero diagonal entry in row {int(zero[0])}; Jacobi needs a nonzero diagonal")
    inv = from_host(1.0 / d, csr.dtype)
    n = csr.shape[0]
    return LinearOperator((n, n), lambda r: r * inv.astype(r.dtype), lambda r: r * inv.astype(r.dtype),
                          dtype=csr.dtype)


def ilu0(A, *, sweeps=None) -> LinearOperator:
    """ILU(0): ``A ~ L U`` with L (unit lower) and U (upper) on A's own pattern.

    Parameters
    ----------
    A : sparse array
        Square, with a nonzero diagonal.
    sweeps : int, optional
        None: exact triangular solves on the host (CPU only). k: k Jacobi sweeps per
        triangle, lazy MLX ops on any device.
    """
    csr = _square_csr(A, "ilu0")
    S = _host_scipy(csr)
    n = S.shape[0]
    ip, ix, val = S.indptr, S.indices, S.data.copy()
    diag = _diagonal_positions(ip, ix, n, "ilu0")
    for i in range(n):
        lo, hi = ip[i], ip[i + 1]
        cols = ix[lo:hi]
        for p in range(lo, diag[i]):  # entries of row i left of the diagonal, in order
            k = ix[p]
            if val[diag[k]] == 0:
                raise ValueError(f"[ilu0] zero pivot in row {int(k)}: ILU(0) does not exist for this A")
            val[p] /= val[diag[k]]
            ks, ke = diag[k] + 1, ip[k + 1]
            # a_ij -= a_ik a_kj for j > k in both rows' patterns
            hit = np.searchsorted(cols, ix[ks:ke])
            ok = (hit < cols.size) & (cols[np.minimum(hit, cols.size - 1)] == ix[ks:ke])
            val[lo + hit[ok]] -= val[p] * val[ks:ke][ok]
    if np.any(val[diag] == 0):
        raise ValueError(f"[ilu0] zero pivot in row {int(np.flatnonzero(val[diag] == 0)[0])}")
    import scipy.sparse as sp

    F = sp.csr_array((val, ix, ip), shape=(n, n))
    L = sp.tril(F, -1, format="csr") + sp.eye_array(n, format="csr")
    U = sp.triu(F, 0, format="csr")
    return _two_solves("ilu0", L, U, csr.dtype, sweeps, symmetric=False)


def ichol0(A, *, sweeps=None) -> LinearOperator:
    """Incomplete Cholesky IC(0): ``A ~ L L^T`` with L on the pattern of A's lower triangle.

    A must be symmetric positive definite (only its lower triangle is read). Raises
    ValueError when a pivot is not positive (IC(0) does not exist; try :func:`jacobi`).
    ``sweeps`` as in :func:`ilu0`; the operator is symmetric positive definite either way,
    so it preconditions :func:`cg` and :func:`minres`.
    """
    import scipy.sparse as sp

    csr = _square_csr(A, "ichol0")
    S = sp.tril(_host_scipy(csr), 0, format="csr")
    S.sort_indices()
    n = S.shape[0]
    ip, ix, val = S.indptr, S.indices, S.data.copy()
    diag = _diagonal_positions(ip, ix, n, "ichol0")
    for i in range(n):
        lo = ip[i]
        cols = ix[lo:diag[i]]
        for q in range(lo, diag[i]):  # L_ik = (a_ik - sum_{j<k} L_ij L_kj) / L_kk
            k = ix[q]
            kc = ix[ip[k]:diag[k]]
            common, a, b = np.intersect1d(cols[: q - lo], kc, assume_unique=True, return_indices=True)
            val[q] = (val[q] - val[lo + a] @ val[ip[k] + b]) / val[diag[k]]
        pivot = val[diag[i]] - val[lo:diag[i]] @ val[lo:diag[i]]
        if not pivot > 0:
            raise ValueError(f"[ichol0] pivot {pivot:.3g} <= 0 in row {i}: IC(0) does not exist "
                             "for this A (not positive definite, or too far from diagonal "
                             "dominance); try jacobi or ilu0")
        val[diag[i]] = np.sqrt(pivot)
    L = sp.csr_array((val, ix, ip), shape=(n, n))
    return _two_solves("ichol0", L, L.T.tocsr(), csr.dtype, sweeps, symmetric=True)


def _diagonal_positions(ip, ix, n, op):
    """The position of each row's diagonal entry in canonical CSR; every one must exist."""
    rows = np.repeat(np.arange(n), np.diff(ip))
    on = np.flatnonzero(ix == rows)
    pos = np.full(n, -1, dtype=np.int64)
    pos[rows[on]] = on
    if np.any(pos < 0):
        raise ValueError(f"[{op}] A has no stored diagonal entry in row {int(np.flatnonzero(pos < 0)[0])}")
    return pos


def _two_solves(op, L, U, dtype, sweeps, symmetric):
    """M r = U^-1 L^-1 r, as a LinearOperator (its adjoint, L^-T U^-T)."""
    n = L.shape[0]
    if sweeps is None:
        lower, upper = _exact(op, L, True, dtype), _exact(op, U, False, dtype)
        lower_t, upper_t = _exact(op, L.T.tocsr(), False, dtype), _exact(op, U.T.tocsr(), True, dtype)
    else:
        if int(sweeps) != sweeps or sweeps < 0:
            raise ValueError(f"[{op}] sweeps must be a non-negative integer, got {sweeps!r}")
        lower, upper = _jacobi_sweeps(L, int(sweeps), dtype), _jacobi_sweeps(U, int(sweeps), dtype)
        lower_t = _jacobi_sweeps(L.T.tocsr(), int(sweeps), dtype)
        upper_t = _jacobi_sweeps(U.T.tocsr(), int(sweeps), dtype)
    return LinearOperator((n, n), lambda r: upper(lower(r)), lambda r: lower_t(upper_t(r)),
                          dtype=dtype)


def _exact(op, T, lower, dtype):
    """Solve with the triangle T on the host (scipy), one sync per call."""
    from scipy.sparse.linalg import spsolve_triangular

    def solve(r):
        if mx.default_device() == mx.gpu:
            raise RuntimeError(f"[{op}] exact triangular solves have no GPU path: pass sweeps=k "
                               "(Jacobi sweeps, lazy on any device) or use the CPU")
        x = spsolve_triangular(T, _to_numpy(r).astype(np.float64), lower=lower)
        return from_host(x, r.dtype)

    return solve


def _jacobi_sweeps(T, sweeps, dtype):
    """x ~ T^-1 r by x_{s+1} = D^-1 (r - N x_s), x_0 = D^-1 r (N: T off its diagonal)."""
    import scipy.sparse as sp

    from .._construct import csr_array

    d = T.diagonal()
    N = csr_array(sp.csr_array(T - sp.diags_array(d)), dtype=dtype)
    inv = from_host(1.0 / d, dtype)

    def solve(r):
        x = r * inv
        for _ in range(sweeps):
            x = (r - N @ x) * inv
        return x

    return solve
