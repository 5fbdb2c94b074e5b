"""SparseArray: the base of every storage format (CSRArray, CSCArray, COOArray, BSRArray).

What does not depend on the format lives here: a sparse array is a ``dict`` holding only its
values under ``"data"`` (so MLX's tree utilities see it: ``mx.eval(A)``, ``mx.grad(f)(A)``
returns ``{"data": dA}``), and a dict for nothing else; ``shape``, ``dtype``, ``size``;
``@`` through the one dispatcher, :func:`mlx_sparse.matmul`; products with scalars; numpy's
protocols; ``with_data``, ``copy``, ``toarray``, ``T``; conversions to every format through
``tocsr``; the reductions (``_reduce.py``) and elementwise ops (``_elementwise.py``), written
once on the CSR form. A format defines its structure, its checks, ``nnz``, ``_data_shape``
(the shape ``data`` must keep), ``_with_data``, ``todense``, ``tocsr``, ``transpose``,
``astype`` and ``has_canonical_format``.
"""

from __future__ import annotations

import operator

import mlx.core as mx
import numpy as np

from . import _dtypes
from ._elementwise import ElementwiseMixin
from ._reduce import ReduceMixin


def _tracing(a: mx.array) -> bool:
    """True when a's value cannot be read now (inside mx.compile tracing)."""
    try:
        mx.eval(a)
        return False
    except Exception:  # MLX raises when a traced value is evaluated
        return True


def _to_numpy(a: mx.array) -> np.ndarray:
    """Host copy of values; bfloat16 (which numpy lacks) goes through float32 exactly."""
    if a.dtype == mx.bfloat16:
        return np.array(a.astype(mx.float32))
    return np.array(a)


def _values_from_host(host: np.ndarray, dtype: str) -> mx.array:
    """The inverse of ``(_to_numpy(values), dtype name)``, as pickles store values:
    mx.array(float64 ndarray) would be float32, and bfloat16 went through float32."""
    values = mx.array(host, dtype=mx.float32 if dtype == "bfloat16" else getattr(mx, dtype))
    return values.astype(getattr(mx, dtype))


def _dtype_name(dtype) -> str:
    return str(dtype).replace("mlx.core.", "")


def check_shape(shape, op: str = "csr_array") -> tuple[int, int]:
    """(m, n) as two non-negative ints; like scipy, 3.7 is no size (operator.index)."""
    try:
        m, n = (operator.index(v) for v in shape)
    except (TypeError, ValueError):
        raise TypeError(f"[{op}] shape must be a pair of integers, got {shape!r}") from None
    if m < 0 or n < 0:
        raise ValueError(f"[{op}] shape must be non-negative, got {(m, n)}")
    return (m, n)


def _matmul(a, b):
    """The dispatcher, :func:`mlx_sparse.matmul`: _ops imports the formats, so it is imported
    on the first product, and this name then is the dispatcher itself (no import per call)."""
    global _matmul
    from ._ops import matmul

    _matmul = matmul
    return matmul(a, b)


class SparseArray(ReduceMixin, ElementwiseMixin, dict):
    """The base of the sparse formats (:class:`CSRArray`, :class:`CSCArray`,
    :class:`COOArray`, :class:`BSRArray`).

    A ``dict`` holding only the values, under ``"data"``, so that MLX's tree utilities see
    them; it refuses other keys, ``len()`` and iteration (``==`` compares entries, as
    scipy's). ``a @ b`` with a sparse
    operand goes through :func:`mlx_sparse.matmul` whatever the formats.
    """

    format: str = ""
    _op = "sparse_array"  # the constructor's name, which starts this format's messages
    _read_entries = ".toarray()"  # how this format's entries are read, for messages
    _index_hint = "A.toarray()[...]"
    ndim = 2
    _batch = ()  # leading batch dimensions of the shape (a batched BSRArray's)
    __array_ufunc__ = None  # numpy defers `ndarray @ A` to A.__rmatmul__
    __hash__ = None

    # ---- what a format defines
    @property
    def nnz(self) -> int:
        raise NotImplementedError

    @property
    def _data_shape(self) -> tuple:
        """The shape ``data`` has (leading batch dimensions aside, which MLX's transforms add)."""
        raise NotImplementedError

    def _with_data(self, data, **flags) -> "SparseArray":
        raise NotImplementedError

    def todense(self, *, stream=None) -> mx.array:
        raise NotImplementedError

    # ---- values
    @property
    def data(self) -> mx.array:
        """The stored values: an MLX array, lazy and differentiable."""
        return self["data"]

    @data.setter
    def data(self, values):
        values = mx.array(values) if not isinstance(values, mx.array) else values
        if values.shape != self["data"].shape:
            raise ValueError(
                f"[{self._op}] data must keep shape {tuple(self['data'].shape)}, got {tuple(values.shape)}"
            )
        self["data"] = values

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``."""
        return self._shape

    @property
    def dtype(self):
        """Dtype of the values."""
        return self["data"].dtype

    @property
    def size(self) -> int:
        """Number of stored entries, as scipy's ``size``."""
        return self.nnz

    def with_data(self, data) -> "SparseArray":
        """An array of this pattern with the given values, e.g. trainable ones."""
        data = data if isinstance(data, mx.array) else mx.array(data)
        if tuple(data.shape) != self._data_shape:
            raise ValueError(f"[{self._op}] values must have shape {self._data_shape}, got {tuple(data.shape)}")
        return self._with_data(data)

    def copy(self) -> "SparseArray":
        """A copy with its own values; the structure, never changed in place by ops, is shared."""
        return self._with_data(mx.array(self["data"]))

    # ---- a dict for MLX's trees only; A[i, j] is indexing (see _index.py)
    # Other string keys would be silently ignored by every op: refuse them.
    def __setitem__(self, key, value):
        if not isinstance(key, str):
            return self._setitem(key, value)
        if key != "data":
            raise TypeError(f"[{self._op}] item assignment (A[{key!r}] = ...) is refused: a "
                            f"{type(self).__name__} holds no key but 'data'")
        want = self._data_shape
        if (not isinstance(value, mx.array) or value.ndim < len(want)
                or tuple(value.shape[value.ndim - len(want):]) != want):
            shape = tuple(value.shape) if isinstance(value, mx.array) else type(value).__name__
            spelled = ", ".join(str(d) for d in want)
            raise ValueError(f"[{self._op}] data must be an mx.array of shape (..., {spelled}), got {shape}")
        dict.__setitem__(self, key, value)

    def __getitem__(self, key):
        if not isinstance(key, str):
            return self._getitem(key)
        if key != "data":
            raise KeyError(f"[{self._op}] a {type(self).__name__} holds no key but 'data', got {key!r}")
        return dict.__getitem__(self, key)

    def _getitem(self, key):
        raise NotImplementedError(
            f"[{self._op}] indexing (A[{key!r}]) is not supported yet; use {self._index_hint}")

    def _setitem(self, key, value):
        raise TypeError(
            f"[{self._op}] item assignment (A[{key!r}] = ...) is not supported: the pattern "
            "is fixed; build a new array, e.g. A + ms.csr_array((values, (rows, cols)), shape=A.shape)")

    def _refuse(self, *args, **kwargs):
        raise TypeError(f"[{self._op}] a {type(self).__name__}'s entries cannot be added or removed like a dict's")

    __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse

    def __len__(self):
        raise TypeError("sparse array length is ambiguous; use .nnz or .shape[0]")

    def __iter__(self):
        raise TypeError(f"iteration over a {type(self).__name__} is not supported; use {self._read_entries}")

    def __bool__(self):
        if self.shape == (1, 1):
            return bool(self.toarray()[0, 0] != 0)
        raise ValueError(f"the truth value of a {type(self).__name__} with more than one element is ambiguous")

    def __repr__(self):
        fields = ", ".join(f"{k}={v}" for k, v in self._repr_fields())
        return f"{type(self).__name__}({fields})"

    def _repr_fields(self):
        return [("shape", self.shape), ("nnz", self.nnz), ("dtype", self.dtype)]

    # numpy functions such as np.dot(X, A) would treat a sparse array as an object scalar
    # (np.matmul, a ufunc, is refused by __array_ufunc__ = None)
    def __array_function__(self, func, types, args, kwargs):
        if func is np.dot and len(args) == 2 and not kwargs:
            return _to_numpy(_matmul(*args))
        raise TypeError(
            f"[{self._op}] numpy.{func.__name__} does not take a {type(self).__name__}; use "
            "A.toarray() first, or the mlx_sparse op"
        )

    # ---- conversions
    def toarray(self) -> np.ndarray:
        """The dense matrix as a numpy array (bfloat16, which numpy lacks, as float32)."""
        return _to_numpy(self.todense())

    def tocoo(self, copy=False):
        """The :class:`COOArray` of these entries (through the CSR form)."""
        return self.tocsr().tocoo()

    def tocsc(self, copy=False):
        """The :class:`CSCArray` of these entries (through the CSR form)."""
        return self.tocsr().tocsc()

    def _deduped(self) -> "SparseArray":
        """This array in its format with duplicates summed (itself when canonical)."""
        if self.has_canonical_format:
            return self
        C = self.tocsr()._canonical_copy()
        return C.tobsr(self.blocksize) if self.format == "bsr" else C.asformat(self.format)

    def _deduped_csr(self, canonical: bool):
        """The CSR form, canonical (duplicates summed) when asked: what reductions read."""
        A = self.tocsr()
        return A._canonical_copy() if canonical else A

    def tobsr(self, blocksize=None, copy=False):
        """The :class:`BSRArray` of these entries (through the CSR form, see ``CSRArray.tobsr``)."""
        return self.tocsr().tobsr(blocksize)

    def asformat(self, format, copy=False):
        """This array in ``format`` (``"csr"``, ``"csc"``, ``"coo"``, ``"bsr"``; None keeps it)."""
        if format is None or format == self.format:
            return self.copy() if copy else self
        convert = getattr(self, f"to{format}", None) if isinstance(format, str) else None
        if format not in ("csr", "csc", "coo", "bsr") or convert is None:
            raise ValueError(f"[asformat] format must be one of 'csr', 'csc', 'coo', 'bsr' or None, "
                             f"got {format!r}")
        return convert(copy=copy)

    @property
    def T(self) -> "SparseArray":
        """The transpose (see :meth:`transpose`)."""
        return self.transpose()

    # ---- products: every `@` goes through the one dispatcher, ms.matmul
    def __matmul__(self, other):
        """``self @ other`` (see :func:`mlx_sparse.matmul`)."""
        return _matmul(self, other)

    def __rmatmul__(self, other):
        """``other @ self`` for numpy operands (see :func:`mlx_sparse.matmul`; MLX arrays do
        not defer)."""
        return _matmul(other, self)

    def dot(self, other):
        """``self @ other``."""
        return self @ other

    # ---- products with scalars keep the pattern
    def __neg__(self):
        return self._with_data(-self["data"])

    def __pos__(self):
        return self

    def __mul__(self, other):
        if _dtypes.real_scalar(other, "multiply") is not None:
            return self._with_data(self["data"] * other)
        return self.multiply(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    def multiply(self, other):
        """Elementwise product: with a scalar in this format, else through the CSR form."""
        if _dtypes.real_scalar(other, "multiply") is not None:
            return self._with_data(self["data"] * other)
        return self.tocsr().multiply(other)

    # ---- sums of formats without their own: through the CSR form (a CSRArray or dense)
    def __add__(self, other):
        return self.tocsr() + other

    def __radd__(self, other):
        return self.__add__(other)

    def __sub__(self, other):
        return self.tocsr() - other

    def __rsub__(self, other):
        return (-self).__add__(other)
