"""Dtypes of sparse arrays: which are allowed, and reading them as users write them.

A dtype argument may be an MLX dtype, a numpy dtype or type, or a name (``"float32"``,
``"bfloat16"``), as in numpy and scipy; it is read here once, so every op refuses the same
things with the same words.
"""

from __future__ import annotations

import numbers

import mlx.core as mx
import numpy as np

VALUE_DTYPES = (mx.float32, mx.float16, mx.bfloat16, mx.float64)
INDEX_DTYPES = (mx.int32, mx.int64)
INT32_MAX = int(np.iinfo(np.int32).max)

_BY_NAME = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16,
            "float64": mx.float64, "int32": mx.int32, "int64": mx.int64}
NUMPY_VALUE = {np.dtype(np.float32): mx.float32, np.dtype(np.float16): mx.float16,
               np.dtype(np.float64): mx.float64}


def as_mx_dtype(dtype, allowed, what: str, op: str = "csr_array"):
    """``dtype`` as one of the MLX dtypes in ``allowed``, or a TypeError naming the op."""
    found = None
    if dtype is None:  # np.dtype(None) is float64: never guess
        found = None
    elif isinstance(dtype, mx.Dtype):
        found = dtype
    elif isinstance(dtype, str):
        found = _BY_NAME.get(dtype.lower())
    else:
        try:
            found = _BY_NAME.get(np.dtype(dtype).name)
        except TypeError:
            found = None
    if found is None or found not in allowed:
        names = ", ".join(str(d).replace("mlx.core.", "") for d in allowed)
        raise TypeError(f"[{op}] {what} must be one of {names}; got {dtype!r}")
    return found


def value_dtype(dtype, op: str = "csr_array"):
    return as_mx_dtype(dtype, VALUE_DTYPES, "dtype", op)


def index_dtype(dtype, op: str = "csr_array"):
    return as_mx_dtype(dtype, INDEX_DTYPES, "index_dtype", op)


def real_scalar(x, op: str):
    """x if it is a real scalar (Python number, 0-d array), None if it is no scalar; complex
    scalars raise (sparse values are real), so ``A * 1j`` fails here rather than later."""
    is_scalar = isinstance(x, numbers.Number) or (isinstance(x, (mx.array, np.ndarray)) and x.ndim == 0)
    if not is_scalar:
        return None
    complex_ = isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real)
    if complex_ or (isinstance(x, np.ndarray) and x.dtype.kind == "c") or (
            isinstance(x, mx.array) and x.dtype == mx.complex64):
        raise TypeError(f"[{op}] complex values are not supported")
    return x
