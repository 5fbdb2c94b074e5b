"""What every solver shares: checking its operands, and the implicit gradient of x = A^-1 b."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ._operator import LinearOperator, _as_csr, aslinearoperator


def prepare(A, b, x0, op: str):
    """(csr or None, operator, b, x0, dtype) of a square system A x = b.

    csr is A as a CSRArray when it is sparse (its values then get gradients); the operator
    computes in dtype (float32, or float64 when A or b is float64); b and x0 are 1-D.
    """
    csr = _as_csr(A)
    if csr is None and not isinstance(A, LinearOperator):
        try:
            A = aslinearoperator(A)
        except TypeError:
            raise TypeError(f"[{op}] A must be a sparse array, a dense matrix or a LinearOperator, "
                            f"got {type(A).__name__}") from None
    shape = (csr if csr is not None else A).shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"[{op}] A must be square, got shape {tuple(shape)}")
    n = shape[0]
    b = as_vector(b, n, "b", op)
    dtype = solve_dtype([b.dtype, (csr if csr is not None else A).dtype], op)
    b = b.astype(dtype)
    x0 = mx.zeros((n,), dtype=dtype) if x0 is None else as_vector(x0, n, "x0", op).astype(dtype)
    if csr is not None:
        values = mx.stop_gradient(csr.data).astype(dtype)  # iterations record no gradient
        Aop = aslinearoperator(csr.with_data(values))
    else:
        Aop = A
    return csr, Aop, b, x0, dtype


def as_vector(v, n: int, name: str, op: str) -> mx.array:
    """v as a 1-D mx.array of length n; (n, 1) is taken as scipy takes it."""
    if not isinstance(v, mx.array):
        host = np.asarray(v)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"[{op}] {name} must be a real numeric array, got dtype {host.dtype}")
        v = mx.array(host, dtype=mx.float64) if host.dtype == np.float64 else mx.array(host)
    if v.shape not in ((n,), (n, 1)):
        raise ValueError(f"[{op}] {name} must have shape ({n},) or ({n}, 1) for A of size {n}, "
                         f"got {tuple(v.shape)}")
    return v.reshape(-1)


def solve_dtype(dtypes, op: str):
    """float64 when any operand is, else float32; half precision is refused (a Krylov
    recurrence loses every digit in it)."""
    for dt in dtypes:
        if dt in (mx.float16, mx.bfloat16):
            raise TypeError(f"[{op}] {dt} is too narrow for a solve: use float32 or float64 "
                            "(e.g. A.astype(mx.float32))")
        if dt == mx.complex64:
            raise TypeError(f"[{op}] complex values are not supported")
    return mx.float64 if mx.float64 in dtypes else mx.float32


def tolerance(b: mx.array, rtol, atol, op: str) -> float:
    """max(rtol ||b||, atol), the residual norm a solve must reach."""
    rtol, atol = float(rtol), float(atol)
    if rtol < 0 or atol < 0 or np.isnan(rtol) or np.isnan(atol):
        raise ValueError(f"[{op}] rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    return max(rtol * float(mx.linalg.norm(b).item()), atol)


def check_maxiter(maxiter, default: int, op: str) -> int:
    if maxiter is None:
        return default
    if int(maxiter) != maxiter or maxiter < 0:
        raise ValueError(f"[{op}] maxiter must be a non-negative integer, got {maxiter!r}")
    return int(maxiter)


def with_implicit_gradient(csr, Aop, b, x, adjoint_solve):
    """x (the solution of A x = b, computed without gradients) made differentiable by the
    implicit rule: b_bar = A^-T x_bar, A_bar = -b_bar x^T sampled at A's pattern.

    adjoint_solve(v) solves A^T y = v. Gradients reach A only when it is a CSRArray."""
    if csr is None:
        fn = mx.custom_function(lambda b_, x_: x_)

        @fn.vjp
        def _vjp(primals, cotangent, output):
            return adjoint_solve(cotangent), mx.zeros_like(primals[1])

        return fn(b, mx.stop_gradient(x))

    from .._ops import sddmm

    fn = mx.custom_function(lambda data, b_, x_: x_)

    @fn.vjp
    def _vjp(primals, cotangent, output):
        data, _, x_ = primals
        b_bar = adjoint_solve(cotangent)
        cols = (lambda v: v[:, None]) if b_bar.ndim == 1 else (lambda v: v)
        a_bar = -sddmm(csr, cols(b_bar).astype(data.dtype), cols(x_).astype(data.dtype)).data
        return a_bar, b_bar.astype(primals[1].dtype), mx.zeros_like(x_)

    return fn(csr.data, b, mx.stop_gradient(x))


def from_host(x, dtype) -> mx.array:
    """Host values as an mx.array of dtype, rounded on the host (mx.array would make float64
    float32; and a float64 array must not be built on the GPU)."""
    wide = dtype == mx.float64
    return mx.array(np.asarray(x, dtype=np.float64 if wide else np.float32),
                    dtype=mx.float64 if wide else mx.float32).astype(dtype)


# The first parameters of every Krylov solver's docstring ({kind}: what A must be).
SYSTEM_PARAMS = """
    Parameters
    ----------
    A : CSRArray, scipy.sparse array, dense matrix or LinearOperator
        The (n, n) matrix{kind}. Gradients reach the values of a sparse A.
    b : array
        The right-hand side, (n,) or (n, 1).
    x0 : array, optional
        The starting guess (default zeros).
    rtol, atol : float
        Stop when ``||b - A x|| <= max(rtol * ||b||, atol)``.
"""
