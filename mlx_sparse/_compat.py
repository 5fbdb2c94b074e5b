"""Names that users of mlx-sparse (a different package for MLX, ``waleed-sh/mlx-sparse``)
call, mapped onto ours: each works and warns once with the name to use instead
(``DeprecationWarning``), so code moves over without a rewrite first.

=====================================  ============================================
mlx-sparse                             mlx_sparse
=====================================  ============================================
``csr_matvec(A, x)``                   ``A @ x`` (:func:`spmv`)
``csr_matmul(A, B)``                   ``A @ B`` for dense B (:func:`spmm`)
``csr_matmat(A, B)``                   ``A @ B`` for sparse B (:func:`spgemm`)
``CSRArray((data, indices, indptr),    ``csr_array((data, indices, indptr),
shape=...)``                           shape=...)``
``use_device("gpu")``                  :func:`use_gpu` / :func:`use_cpu`
``csr_array(..., validate=...)``       ``A.check_format(full_check=True)``
=====================================  ============================================
"""

from __future__ import annotations

import warnings

_WARNED: set = set()


def _moved(old: str, new: str, depth: int = 1):
    """Warn once per name: mlx-sparse's name works, ours is the one to use. depth: the calls
    between the user's line and the function that warns."""
    if old not in _WARNED:
        _WARNED.add(old)
        warnings.warn(f"[{old}] is mlx-sparse's name; in mlx_sparse use {new}", DeprecationWarning,
                      stacklevel=2 + depth)


def _csr(A, op: str):
    from ._csr import CSRArray

    if not isinstance(A, CSRArray):
        raise TypeError(f"[{op}] expects a CSRArray first, got {type(A).__name__}; use A @ x for "
                        "any format")
    return A


def csr_matvec(a, x):
    """mlx-sparse's ``csr_matvec(A, x)``: ``A @ x`` for a vector x (see :func:`spmv`)."""
    from ._ops import _dense, spmv

    _moved("csr_matvec", "A @ x (ms.spmv)")
    x = _dense(x, "csr_matvec")
    if x.ndim != 1:
        raise ValueError(f"[csr_matvec] x must be a vector (n,), got shape {tuple(x.shape)}; use A @ X")
    return spmv(_csr(a, "csr_matvec"), x)


def csr_matmul(a, rhs):
    """mlx-sparse's ``csr_matmul(A, B)``: ``A @ B`` for a dense (batched) B (see :func:`spmm`)."""
    from ._ops import _dense, spmm

    _moved("csr_matmul", "A @ B (ms.spmm)")
    rhs = _dense(rhs, "csr_matmul")
    if rhs.ndim < 2:
        raise ValueError(f"[csr_matmul] B must be a matrix (..., n, k), got shape {tuple(rhs.shape)}; "
                         "use A @ x for a vector")
    return spmm(_csr(a, "csr_matmul"), rhs)


def csr_matmat(a, rhs):
    """mlx-sparse's ``csr_matmat(A, B)``: ``A @ B`` for two CSRArrays (see :func:`spgemm`)."""
    from ._ops import spgemm

    _moved("csr_matmat", "A @ B (ms.spgemm)")
    return spgemm(_csr(a, "csr_matmat"), _csr(rhs, "csr_matmat"))


def use_device(name: str, index: int = 0):
    """mlx-sparse's ``use_device("cpu" | "gpu")``: :func:`use_cpu` or :func:`use_gpu`."""
    from ._device import use_cpu, use_gpu

    _moved("use_device", "ms.use_gpu() or ms.use_cpu()")
    if index != 0:
        raise ValueError(f"[use_device] MLX has one device of each kind; index must be 0, got {index}")
    kind = name.lower() if isinstance(name, str) else None
    if kind not in ("cpu", "gpu"):
        raise ValueError(f"[use_device] device must be 'cpu' or 'gpu', got {name!r}")
    return use_gpu() if kind == "gpu" else use_cpu()


def validated(A, validate, op: str):
    """mlx-sparse's ``validate=``: ``"metadata"`` or False (the O(1) checks, which always run),
    ``"full"`` or True (also the O(nnz) ones, ``check_format(full_check=True)``)."""
    modes = {"metadata": False, False: False, "none": False, "full": True, True: True}
    if not isinstance(validate, (bool, str)) or validate not in modes:
        raise ValueError(f"[{op}] validate must be False, True, 'metadata' or 'full', got {validate!r}")
    _moved("validate=", "A.check_format(full_check=True) (the O(1) checks always run)", 2)
    if modes[validate]:
        A.check_format(full_check=True)
    return A


def csr_from_tuple(arg, indices, indptr, shape):
    """``CSRArray((data, indices, indptr), shape=...)``, mlx-sparse's spelling: the arrays as
    :func:`csr_array` reads them, (data, indices, indptr, shape)."""
    from ._construct import csr_array

    if indices is not None or indptr is not None or len(arg) != 3:
        raise TypeError("[csr_array] CSRArray takes (data, indices, indptr, shape) or mlx-sparse's "
                        "((data, indices, indptr), shape=...)")
    _moved("CSRArray((data, indices, indptr), shape=...)", "ms.csr_array((data, indices, indptr), shape=...)", 2)
    A = csr_array(arg, shape)
    return A["data"], A.indices, A.indptr, A.shape
