"""Direct solves on the CPU through SuperLU (scipy's): spsolve, splu, factorized, and
spsolve_triangular. The factorisation runs on the host in the values' precision; results come
back as MLX arrays, differentiable in b and A's values by the implicit rule."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .._base import _to_numpy
from ._common import from_host, solve_dtype, with_implicit_gradient
from ._operator import _as_csr


def _cpu_only(op: str):
    if mx.default_device() == mx.gpu:
        raise RuntimeError(f"[{op}] has no GPU path (SuperLU runs on the host): call it under "
                           "mx.stream(mx.cpu), or use an iterative solver (cg, gmres, bicgstab)")


def _host_system(A, b, op: str):
    """(csr, scipy csc of A, b, dtype); b may be (n,) or (n, k), or None (a factorisation)."""
    _cpu_only(op)
    csr = _as_csr(A)
    if csr is None:
        raise TypeError(f"[{op}] A must be a sparse array (CSRArray or scipy.sparse), got {type(A).__name__}")
    n, m = csr.shape
    if n != m:
        raise ValueError(f"[{op}] A must be square, got shape {csr.shape}")
    b = None if b is None else _rhs(b, n, op)
    dtype = solve_dtype([csr.dtype] + ([] if b is None else [b.dtype]), op)
    return csr, _scipy(csr, dtype), None if b is None else b.astype(dtype), dtype


def _rhs(b, n, op):
    if not isinstance(b, mx.array):
        host = np.asarray(b)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"[{op}] b must be a real numeric array, got dtype {host.dtype}")
        b = mx.array(host, dtype=mx.float64) if host.dtype == np.float64 else mx.array(host)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(f"[{op}] b must have shape ({n},) or ({n}, k) for A of size {n}, got {tuple(b.shape)}")
    return b


def _scipy(csr, dtype):
    S = csr.toscipy().astype(np.float64 if dtype == mx.float64 else np.float32)
    S.sum_duplicates()
    return S.tocsc()


def _host(v, dtype):
    return _to_numpy(mx.stop_gradient(v)).astype(np.float64 if dtype == mx.float64 else np.float32)


def spsolve(A, b, permc_spec=None, use_umfpack=False):
    """Solve ``A x = b`` directly (SuperLU), as ``scipy.sparse.linalg.spsolve``; CPU only.

    Parameters
    ----------
    A : CSRArray or scipy.sparse array
        Square and nonsingular.
    b : array
        (n,) or (n, k).
    permc_spec : str, optional
        SuperLU's column ordering ("COLAMD" by default, "NATURAL", "MMD_ATA", "MMD_AT_PLUS_A").

    Returns
    -------
    mx.array
        x, b's shape; differentiable in b and A's values (one transposed solve backwards).
    """
    return splu(A, permc_spec=permc_spec, _op="spsolve").solve(b)


class SuperLU:
    """An LU factorisation of a sparse A (scipy's SuperLU object behind it), made by
    :func:`splu`. ``solve(b, trans="N")`` solves with A (``"T"``: with A^T); solutions
    are differentiable in b and in the values of the A that was factorised."""

    def __init__(self, csr, lu, dtype, op):
        self._csr, self._lu, self._dtype, self._op = csr, lu, dtype, op
        self.shape = csr.shape
        self.nnz = lu.nnz

    @property
    def perm_r(self):
        return self._lu.perm_r

    @property
    def perm_c(self):
        return self._lu.perm_c

    def _host_solve(self, v, trans):
        _cpu_only(self._op)
        return from_host(self._lu.solve(_host(v, self._dtype), trans=trans), self._dtype)

    def solve(self, rhs, trans="N"):
        """x with ``A x = rhs`` (trans="N") or ``A^T x = rhs`` (trans="T")."""
        if trans not in ("N", "T", "H"):
            raise ValueError(f"[{self._op}] trans must be 'N', 'T' or 'H', got {trans!r}")
        b = _rhs(rhs, self.shape[0], self._op).astype(self._dtype)
        x = self._host_solve(b, trans)
        back = "N" if trans != "N" else "T"
        csr = self._csr if trans == "N" else self._csr.T
        return with_implicit_gradient(csr, None, b, x, lambda v: self._host_solve(v, back))


def splu(A, permc_spec=None, diag_pivot_thresh=None, relax=None, panel_size=None, options=None,
         *, _op="splu") -> SuperLU:
    """The LU factorisation of a sparse square A (SuperLU), as ``scipy.sparse.linalg.splu``;
    CPU only. Returns a :class:`SuperLU` whose ``solve`` is differentiable."""
    from scipy.sparse.linalg import splu as scipy_splu

    csr, S, _, dtype = _host_system(A, None, _op)
    try:
        lu = scipy_splu(S, permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh,
                        relax=relax, panel_size=panel_size, options=options or {})
    except RuntimeError as e:  # SuperLU: "Factor is exactly singular"
        raise ValueError(f"[{_op}] {e}: A is singular") from None
    return SuperLU(csr, lu, dtype, _op)


def factorized(A):
    """A function ``solve(b)`` solving ``A x = b`` with one LU factorisation of A (SuperLU),
    as ``scipy.sparse.linalg.factorized``; CPU only."""
    return splu(A, _op="factorized").solve


def spsolve_triangular(A, b, lower=True, overwrite_A=False, overwrite_b=False,
                       unit_diagonal=False):
    """Solve ``A x = b`` for a triangular sparse A, as ``scipy.sparse.linalg.spsolve_triangular``;
    CPU only (the substitution is sequential, on the host).

    Entries on the other side of the diagonal are ignored, as scipy ignores them; with
    ``unit_diagonal`` the diagonal is taken as ones. Differentiable in b and in the values
    of A's triangle.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve_triangular as scipy_triangular

    op = "spsolve_triangular"
    csr, S, b, dtype = _host_system(A, b, op)
    keep = sp.tril(S, format="csr") if lower else sp.triu(S, format="csr")
    if not unit_diagonal and np.any(keep.diagonal() == 0):
        raise ValueError(f"[{op}] A is singular: zero on the diagonal in row {int(np.flatnonzero(keep.diagonal() == 0)[0])}")
    if unit_diagonal:
        keep = keep - sp.diags_array(keep.diagonal()) + sp.eye_array(keep.shape[0], dtype=keep.dtype)

    def host_solve(T, v, lo):
        return from_host(scipy_triangular(T, _host(v, dtype), lower=lo), dtype)

    x = host_solve(keep, b, lower)
    KT = keep.T.tocsr()
    # the gradient reaches A's triangle only (the ignored half, and a unit diagonal, get zero)
    mask = _triangle_mask(csr, lower, unit_diagonal)
    masked = csr.with_data(csr.data * mask)
    return with_implicit_gradient(masked, None, b, x, lambda v: host_solve(KT, v, not lower))


def _triangle_mask(csr, lower, unit_diagonal):
    ip, ix = csr._host_structure()
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(ip))
    inside = (ix < rows) if lower else (ix > rows)
    if not unit_diagonal:
        inside |= ix == rows
    return mx.array(inside.astype(np.float32)).astype(csr.dtype)
