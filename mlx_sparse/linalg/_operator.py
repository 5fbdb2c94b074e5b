"""LinearOperator and aslinearoperator: matrices known only by their products, as in
scipy.sparse.linalg. The solvers take one wherever they take a matrix."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .._base import SparseArray
from .._csr import CSRArray


class LinearOperator:
    """An (m, n) operator given by its products, as ``scipy.sparse.linalg.LinearOperator``.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    matvec : callable
        ``x (n,) -> A @ x (m,)``, on mx arrays.
    rmatvec : callable, optional
        ``y (m,) -> A.T @ y (n,)`` (the real adjoint). Needed by ``.T`` / ``.H`` and by
        gradients of solves through nonsymmetric operators.
    matmat, rmatmat : callable, optional
        The same on (n, k) / (m, k) blocks; by default column by column.
    dtype : mx.Dtype, optional
        The dtype of the products (default float32).
    """

    def __init__(self, shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None):
        try:
            m, n = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"[LinearOperator] shape must be a pair of integers, got {shape!r}") from None
        if m < 0 or n < 0:
            raise ValueError(f"[LinearOperator] shape must be non-negative, got {(m, n)}")
        if not callable(matvec):
            raise TypeError("[LinearOperator] matvec must be callable")
        self.shape = (m, n)
        self.dtype = mx.float32 if dtype is None else dtype
        self._matvec, self._rmatvec = matvec, rmatvec
        self._matmat, self._rmatmat = matmat, rmatmat

    ndim = 2

    def matvec(self, x) -> mx.array:
        """``A @ x`` for x of shape (n,) (or (n, 1), returned as (m, 1))."""
        x = _vector(x, self.shape[1], "matvec")
        y = self._matvec(x.reshape(-1))
        return y.reshape(-1, 1) if x.ndim == 2 else y

    def rmatvec(self, y) -> mx.array:
        """``A.T @ y`` (the adjoint; real values)."""
        if self._rmatvec is None:
            raise NotImplementedError("[LinearOperator] rmatvec is not defined for this operator")
        y = _vector(y, self.shape[0], "rmatvec")
        x = self._rmatvec(y.reshape(-1))
        return x.reshape(-1, 1) if y.ndim == 2 else x

    def matmat(self, X) -> mx.array:
        """``A @ X`` for X of shape (n, k)."""
        X = X if isinstance(X, mx.array) else mx.array(np.asarray(X))
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"[matmat] expected shape ({self.shape[1]}, k), got {tuple(X.shape)}")
        if self._matmat is not None:
            return self._matmat(X)
        return mx.stack([self._matvec(X[:, j]) for j in range(X.shape[1])], axis=1)

    def rmatmat(self, Y) -> mx.array:
        """``A.T @ Y`` for Y of shape (m, k)."""
        if self._rmatmat is not None:
            return self._rmatmat(Y)
        return self.T.matmat(Y)

    def __matmul__(self, x):
        if isinstance(x, LinearOperator):
            return _product(self, x)
        x = x if isinstance(x, mx.array) else mx.array(np.asarray(x))
        return self.matvec(x) if x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1) else self.matmat(x)

    __call__ = dot = __matmul__

    @property
    def T(self) -> "LinearOperator":
        """The transpose (real values: the adjoint ``H``)."""
        if self._rmatvec is None:
            raise NotImplementedError("[LinearOperator] the transpose needs rmatvec")
        return LinearOperator(self.shape[::-1], self._rmatvec, self._matvec, self._rmatmat,
                              self.dtype, self._matmat)

    H = T

    def adjoint(self) -> "LinearOperator":
        return self.T

    transpose = adjoint

    def __repr__(self):
        return f"<{self.shape[0]}x{self.shape[1]} LinearOperator with dtype={self.dtype}>"


def _product(a: LinearOperator, b: LinearOperator) -> LinearOperator:
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"[LinearOperator] cannot multiply shapes {a.shape} and {b.shape}")
    rmv = None
    if a._rmatvec is not None and b._rmatvec is not None:
        rmv = lambda y: b._rmatvec(a._rmatvec(y))  # noqa: E731
    return LinearOperator((a.shape[0], b.shape[1]), lambda x: a._matvec(b._matvec(x)), rmv,
                          dtype=a.dtype)


def _vector(x, n: int, op: str) -> mx.array:
    x = x if isinstance(x, mx.array) else mx.array(np.asarray(x))
    if not (x.shape == (n,) or x.shape == (n, 1)):
        raise ValueError(f"[{op}] dimension mismatch: expected shape ({n},) or ({n}, 1), got {tuple(x.shape)}")
    return x


def aslinearoperator(A) -> LinearOperator:
    """A as a LinearOperator: a LinearOperator, a sparse array of ours, a scipy.sparse
    array, a 2-D dense array (mx or numpy), or any object with ``shape`` and ``matvec``."""
    if isinstance(A, LinearOperator):
        return A
    if _is_scipy_sparse(A):
        from .._construct import csr_array

        A = csr_array(A)
    if isinstance(A, SparseArray):
        A = A.tocsr()
        return LinearOperator(A.shape, A.__matmul__, A.T.__matmul__, A.__matmul__, A.dtype,
                              A.T.__matmul__)
    if isinstance(A, (mx.array, np.ndarray)) or (isinstance(A, list) and A):
        M = A if isinstance(A, mx.array) else _dense_from_host(A)
        if M.ndim != 2:
            raise ValueError(f"[aslinearoperator] a dense operator must be 2-D, got shape {tuple(M.shape)}")
        return LinearOperator(M.shape, M.__matmul__, M.T.__matmul__, M.__matmul__, M.dtype,
                              M.T.__matmul__)
    if hasattr(A, "shape") and hasattr(A, "matvec"):
        return LinearOperator(A.shape, A.matvec, getattr(A, "rmatvec", None),
                              getattr(A, "matmat", None), getattr(A, "dtype", None))
    raise TypeError(f"[aslinearoperator] cannot make a LinearOperator of a {type(A).__name__}")


def _dense_from_host(A) -> mx.array:
    host = np.asarray(A)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"[aslinearoperator] expected a real numeric array, got dtype {host.dtype}")
    return mx.array(host, dtype=mx.float64) if host.dtype == np.float64 else mx.array(host)


def _is_scipy_sparse(x) -> bool:
    if not type(x).__module__.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return sp.issparse(x)


def _as_csr(A):
    """A as a CSRArray when it is sparse (scipy's or ours), else None."""
    if _is_scipy_sparse(A):
        from .._construct import csr_array

        return csr_array(A)
    if isinstance(A, SparseArray):
        return A.tocsr()
    return None

