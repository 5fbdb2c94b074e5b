"""Elementwise ops of every format, with scipy's semantics: the zero-preserving unary ops
(``sin``, ``sqrt``, ``abs``, ``power``, ...), ``maximum`` / ``minimum``, comparisons and
division.

Unary ops act on the stored values after duplicates are summed (``f(a) + f(b)`` is not
``f(a + b)``) and keep the format; they are MLX ops on the values, so they are lazy and
differentiable. Binary ops with another sparse array work on the union of the two canonical
CSR patterns (the positions found once; the values placed by the differentiable
``csr_sum_duplicates``). Comparisons give a sparse array of bool values where scipy gives a
sparse result, and a dense ``mx.array`` of bool where scipy gives a dense one.
"""

from __future__ import annotations

import operator

import mlx.core as mx
import numpy as np

from . import _dtypes, _ext

# scipy's zero-preserving unary ops (f(0) == 0), as MLX ops on the values
_UNARY = {
    "sin": mx.sin, "tan": mx.tan, "arcsin": mx.arcsin, "arctan": mx.arctan, "sinh": mx.sinh,
    "tanh": mx.tanh, "arcsinh": mx.arcsinh, "arctanh": mx.arctanh, "rint": mx.round,
    "floor": mx.floor, "ceil": mx.ceil, "trunc": mx.trunc, "expm1": mx.expm1, "log1p": mx.log1p,
    "deg2rad": mx.radians, "rad2deg": mx.degrees, "sqrt": mx.sqrt, "sign": mx.sign,
}

_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "gt": operator.gt,
            "le": operator.le, "ge": operator.ge}


def _unary(name, fn):
    def op(self):
        A = self._deduped()
        return A._with_data(fn(A["data"]))

    op.__name__ = name
    op.__doc__ = (f"Elementwise ``{name}`` of the entries (zero-preserving: the pattern is kept, "
                  "duplicates summed first), differentiable in the values.")
    return op


def _is_sparse(x) -> bool:
    from ._base import SparseArray

    return isinstance(x, SparseArray) or type(x).__module__.startswith("scipy.sparse")


def _as_csr(x, op):
    from ._ops import _sparse

    return _sparse(x, op)._deduped_csr(True)


def union(A, B, op: str):
    """(pattern, a, b): the CSRArray of the union of A's and B's canonical patterns (values
    zero) and the values of A and of B placed on it (zero where one does not store)."""
    from ._csr import CSRArray
    from ._ops import _promote

    if A.shape != B.shape:
        raise ValueError(f"[{op}] inconsistent shapes {A.shape} and {B.shape}")
    last = A._cache.get("union")
    if last is None or last[0] is not B._cache:  # A's pattern keeps the last pair's union
        idt = mx.int64 if mx.int64 in (A.index_dtype, B.index_dtype) else mx.int32
        rows = mx.concatenate([A._rows().astype(idt), B._rows().astype(idt)])
        cols = mx.concatenate([A.indices.astype(idt), B.indices.astype(idt)])
        found = _ext.coo_tocsr(rows, cols, *A.shape, True)
        mx.eval(found)
        last = A._cache["union"] = (B._cache, *found)
    _, indptr, indices, slot = last
    dtype = _promote(A.dtype, B.dtype)
    a = _ext.csr_sum_duplicates(A.data.astype(dtype), slot[:A.nnz], indices.size)
    b = _ext.csr_sum_duplicates(B.data.astype(dtype), slot[A.nnz:], indices.size)
    pattern = CSRArray(mx.zeros_like(a), indices, indptr, A.shape, sorted_indices=True,
                       canonical=True, check=False)
    return pattern, a, b


def _broadcast_dense(other, shape, op):
    """A dense operand that broadcasts to shape, or a ValueError naming the op."""
    from ._ops import _dense

    d = _dense(other, op)
    try:
        np.broadcast_shapes(tuple(d.shape), shape)
    except ValueError:
        raise ValueError(f"[{op}] operand of shape {tuple(d.shape)} does not broadcast to {shape}") from None
    return d


def _bool_csr(dense_mask: mx.array):
    """The CSRArray of bool values True at the True positions of a dense bool mask."""
    from ._construct import fromdense

    pattern = fromdense(dense_mask.astype(mx.float32))
    return pattern._with_data(mx.ones((pattern.nnz,), dtype=mx.bool_))


def _true_entries(A):
    """A bool CSRArray without its False entries, as scipy's comparisons store."""
    return A.copy().eliminate_zeros()


class ElementwiseMixin:
    """The elementwise ops of :class:`SparseArray` (see the module docstring)."""

    def __abs__(self):
        return self.abs()

    def abs(self):
        """Elementwise absolute value (duplicates summed first), differentiable."""
        A = self._deduped()
        return A._with_data(mx.abs(A["data"]))

    def conj(self, copy=True):
        """The complex conjugate: the array itself, whose values are real."""
        return self.copy() if copy else self

    conjugate = conj

    @property
    def real(self):
        """The real part: the array itself (values are real)."""
        return self

    @property
    def imag(self):
        """The imaginary part: zeros on this pattern (values are real)."""
        A = self._deduped()
        return A._with_data(mx.zeros_like(A["data"]))

    def power(self, n, dtype=None):
        """Elementwise ``A ** n`` for a scalar n != 0 (the pattern is kept, duplicates summed
        first), differentiable in the values and in n."""
        if _dtypes.real_scalar(n, "power") is None:
            raise TypeError(f"[power] the exponent must be a scalar, got {type(n).__name__}")
        if not isinstance(n, mx.array) and n == 0:
            raise NotImplementedError("[power] zero power is not supported as it would densify the "
                                      "matrix; use mx.ones(A.shape) for this case")
        A = self._deduped() if dtype is None else self._deduped().astype(dtype)
        return A._with_data(A["data"] ** n)

    def __pow__(self, n):
        return self.power(n)

    # ---- maximum, minimum
    def maximum(self, other):
        """Elementwise maximum with a scalar, a dense array (dense result) or a sparse array
        (a CSRArray on the union of the patterns)."""
        return self._extremum(other, mx.maximum, "maximum")

    def minimum(self, other):
        """Elementwise minimum (see :meth:`maximum`)."""
        return self._extremum(other, mx.minimum, "minimum")

    def _extremum(self, other, fn, op):
        if _dtypes.real_scalar(other, op) is not None:
            if float(fn(mx.array(0.0), mx.array(float(other)))) == 0:  # zeros stay zero
                A = self._deduped()
                return A._with_data(fn(A["data"], other))
            from ._construct import fromdense

            return fromdense(fn(self.todense(), other))  # scipy's result is full: sparse as scipy's
        if _is_sparse(other):
            pattern, a, b = union(self._deduped_csr(True), _as_csr(other, op), op)
            return pattern._with_data(fn(a, b))
        return fn(self.todense(), _broadcast_dense(other, self.shape, op))

    # ---- division
    def __truediv__(self, other):
        """``A / x``: a scalar keeps the pattern; a dense x gives scipy's sparse result (a
        COOArray of the nonzero quotients); a sparse x gives a dense array, as in scipy
        (``0 / 0`` is nan at every position neither stores)."""
        if _dtypes.real_scalar(other, "divide") is not None:
            return self._with_data(self["data"] / other)
        if _is_sparse(other):
            B = _as_csr(other, "divide")
            if B.shape != self.shape:
                raise ValueError(f"[divide] inconsistent shapes {self.shape} and {B.shape}")
            return self.todense() / B.todense()
        from ._construct import fromdense

        return fromdense(self.todense() / _broadcast_dense(other, self.shape, "divide")).tocoo()

    def __rtruediv__(self, other):
        raise TypeError(f"[divide] x / {type(self).__name__} would be dense; use x / A.todense()")

    # ---- comparisons
    def _compare(self, other, name):
        cmp = _COMPARE[name]
        if _dtypes.real_scalar(other, name) is not None:
            if cmp(0.0, float(other)):  # every implicit zero is True: full, as scipy's
                return _bool_csr(cmp(self.todense(), other))
            A = self._deduped_csr(True)
            return _true_entries(A._with_data(cmp(A.data, other)))
        if _is_sparse(other):
            B = _as_csr(other, name)
            if cmp(0.0, 0.0):  # == <= >=: True where neither stores
                if self.shape != B.shape:
                    raise ValueError(f"[{name}] inconsistent shapes {self.shape} and {B.shape}")
                return _bool_csr(cmp(self.todense(), B.todense()))
            pattern, a, b = union(self._deduped_csr(True), B, name)
            return _true_entries(pattern._with_data(cmp(a, b)))
        return cmp(self.todense(), _broadcast_dense(other, self.shape, name))

    def __eq__(self, other):
        return self._compare(other, "eq")

    def __ne__(self, other):
        return self._compare(other, "ne")

    def __lt__(self, other):
        return self._compare(other, "lt")

    def __gt__(self, other):
        return self._compare(other, "gt")

    def __le__(self, other):
        return self._compare(other, "le")

    def __ge__(self, other):
        return self._compare(other, "ge")


for _name, _fn in _UNARY.items():
    setattr(ElementwiseMixin, _name, _unary(_name, _fn))
