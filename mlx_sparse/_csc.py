"""CSCArray: compressed sparse columns, stored as the CSR of its transpose.

A CSC matrix's ``(data, indices, indptr)`` are exactly the CSR arrays of its transpose, so a
CSCArray keeps that CSRArray and every product is a CSR primitive run transposed
(``A @ x = (x^T @ A^T)^T``): no values move, and gradients are the CSR ones.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ._base import SparseArray, check_shape
from ._csr import CSRArray


def _renamed(error: Exception) -> Exception:
    """A CSR check's error in CSC words: the transpose's columns are this array's rows."""
    text = str(error).replace("[csr_array]", "[csc_array]").replace("[fromdense]", "[csc_array]")
    text = text.replace("column index", "row index").replace(" columns", " rows")
    return type(error)(text)


class CSCArray(SparseArray):
    """A sparse matrix in CSC format with MLX values. Make one with :func:`csc_array`.

    Attributes follow ``scipy.sparse.csc_array``: ``data`` (values, ``nnz``), ``indices``
    (row of each value), ``indptr`` (column ``j`` holds entries ``indptr[j]:indptr[j+1]``),
    ``shape``, ``nnz``, ``dtype``, ``format``. ``A.T`` is a CSRArray sharing these arrays.
    """

    format = "csc"
    _op = "csc_array"
    _read_entries = ".tocoo() or .toarray()"
    _index_hint = "A.toarray()[...] or A.tocoo()"

    def __init__(self, data, indices, indptr, shape, *, sorted_indices=None, canonical=None,
                 check=True):
        dict.__init__(self, data=data)
        self._shape = check_shape(shape, self._op)
        try:
            self._t = CSRArray(data, indices, indptr, self._shape[::-1], sorted_indices=sorted_indices,
                               canonical=canonical, check=check)
        except (TypeError, ValueError) as e:
            raise _renamed(e) from None

    @classmethod
    def _of_transpose(cls, t: CSRArray) -> "CSCArray":
        """The CSCArray whose transpose is the CSRArray t (sharing its arrays and caches)."""
        out = cls.__new__(cls)
        dict.__init__(out, data=t["data"])
        out._shape, out._t = t.shape[::-1], t
        return out

    def _tt(self) -> CSRArray:
        """The transpose as a CSRArray holding this array's current values."""
        if self._t["data"] is not self["data"]:  # values replaced (A.data = v, mx.grad's trees)
            self._t = self._t._with_data(self["data"])
        return self._t

    # ---- scipy-style attributes
    @property
    def indices(self) -> mx.array:
        """The row of each stored value, shape ``(nnz,)``."""
        return self._t.indices

    @property
    def indptr(self) -> mx.array:
        """Column pointers, ``(n + 1,)``: column ``j`` holds entries ``indptr[j]:indptr[j + 1]``."""
        return self._t.indptr

    @property
    def nnz(self) -> int:
        return self._t.nnz

    @property
    def _data_shape(self) -> tuple:
        return (self.nnz,)

    @property
    def index_dtype(self):
        return self._t.index_dtype

    @property
    def has_sorted_indices(self) -> bool:
        """Whether every column's rows are sorted."""
        return self._t.has_sorted_indices

    @property
    def has_canonical_format(self) -> bool:
        """Whether every column's rows are sorted and unique."""
        return self._t.has_canonical_format

    def _repr_fields(self):
        return [("shape", self.shape), ("nnz", self.nnz), ("dtype", self.dtype),
                ("index_dtype", self.index_dtype)]

    def __reduce__(self):
        return (_rebuild, (self._tt(),))

    def check_format(self, full_check: bool = False):
        """Check the CSC rules: O(1) checks always, O(nnz) ones with ``full_check=True``."""
        try:
            self._tt().check_format(full_check)
        except (TypeError, ValueError) as e:
            raise _renamed(e) from None

    def _with_data(self, data, **flags) -> "CSCArray":
        return CSCArray._of_transpose(self._t._with_data(data, **flags))

    # ---- conversions
    def transpose(self, axes=None) -> CSRArray:
        """The transpose: a CSRArray with the same ``data``, ``indices`` and ``indptr``."""
        if axes is not None and tuple(axes) != (1, 0):
            raise ValueError("[csc_transpose] axes must be None or (1, 0)")
        return self._tt()._with_data(self["data"])  # its own object: in-place ops on A leave A.T

    def tocsr(self, copy=False) -> CSRArray:
        """The CSRArray of these entries (a transpose of the stored one: values gathered
        lazily by a fixed permutation, so gradients flow back)."""
        return self._tt().transpose()

    def tocsc(self, copy=False) -> "CSCArray":
        """This array, already CSC (a copy with ``copy=True``)."""
        return self.copy() if copy else self

    def tocoo(self, copy=False):
        """The COOArray of the stored entries, in column-major order as scipy's."""
        return self._tt().tocoo().transpose()

    def nonzero(self):
        """``(row, col)`` of the stored nonzero entries, in row order as scipy's CSC gives."""
        row, col = super().nonzero()
        order = mx.array(np.argsort(np.asarray(row), kind="stable"))
        return mx.take(row, order), mx.take(col, order)

    def todense(self, *, stream=None) -> mx.array:
        """The dense matrix as an mx.array (duplicates summed)."""
        return mx.transpose(self._tt().todense(stream=stream))

    def toscipy(self):
        """A ``scipy.sparse.csc_array`` with the same entries."""
        return self._tt().toscipy().T.tocsc()

    def astype(self, dtype, index_dtype=None) -> "CSCArray":
        """Values (and optionally indices) cast to other dtypes (MLX or numpy dtypes, or names)."""
        try:
            return CSCArray._of_transpose(self._tt().astype(dtype, index_dtype))
        except (TypeError, ValueError, OverflowError) as e:
            raise _renamed(e) from None

    # ---- canonical forms (in place, as scipy; each also returns self)
    def sum_duplicates(self) -> "CSCArray":
        """Sort every column's rows and sum duplicates, in place (differentiable)."""
        return self._in_place(self._tt().sum_duplicates)

    def sort_indices(self) -> "CSCArray":
        """Sort every column's row indices, in place."""
        return self._in_place(self._tt().sort_indices)

    def eliminate_zeros(self) -> "CSCArray":
        """Remove stored zeros, in place."""
        return self._in_place(self._tt().eliminate_zeros)

    def _in_place(self, op) -> "CSCArray":
        op()  # changes self._t in place
        self["data"] = self._t["data"]
        return self


def _rebuild(t: CSRArray) -> CSCArray:
    return CSCArray._of_transpose(t)


def csc_array(arg, shape=None, *, dtype=None, index_dtype=None, sorted_indices=False,
              canonical=False, copy=False, validate=None) -> CSCArray:
    """Make a CSCArray, with scipy's constructor forms.

    Parameters
    ----------
    arg
        One of: ``(data, indices, indptr)`` (``indices`` holds rows, ``indptr`` points at
        columns); ``(data, (row, col))`` COO triplets, duplicates summed; ``(M, N)`` for an
        empty array; a ``scipy.sparse`` array or matrix; a sparse array of ours (any format);
        a dense ``mx.array``, numpy array or nested list (its nonzeros are kept).
    shape : tuple of int, optional
        ``(M, N)``; inferred when omitted, as scipy does.
    dtype, index_dtype, sorted_indices, canonical, copy, validate
        As for :func:`csr_array` (``sorted_indices`` and ``canonical`` promise sorted, unique
        rows within each column).
    """
    if validate is not None:
        from ._compat import validated

        return validated(csc_array(arg, shape, dtype=dtype, index_dtype=index_dtype,
                                   sorted_indices=sorted_indices, canonical=canonical, copy=copy),
                         validate, "csc_array")
    from ._construct import _is_scipy_sparse, csr_array

    t_shape = None if shape is None else check_shape(shape, "csc_array")[::-1]
    try:
        if isinstance(arg, SparseArray):
            t = arg.tocsc().T
        elif _is_scipy_sparse(arg):
            if shape is not None and tuple(t_shape[::-1]) != arg.shape:
                raise ValueError(f"[csc_array] shape {tuple(shape)} does not match the scipy "
                                 f"array's {arg.shape}")
            t, t_shape = arg.tocsc().T, None  # a scipy csr_array with the same arrays
        elif isinstance(arg, tuple) and len(arg) == 2 and all(isinstance(v, (int, np.integer)) for v in arg):
            t = check_shape(arg, "csc_array")[::-1]
        elif isinstance(arg, tuple) and len(arg) == 2 and len(arg[1]) == 2:
            t = (arg[0], (arg[1][1], arg[1][0]))
        elif isinstance(arg, tuple):
            t = arg
        else:
            t = mx.transpose(arg) if isinstance(arg, mx.array) and arg.ndim == 2 else np.asarray(arg).T
            if np.ndim(t) != 2:
                t = arg  # csr_array names the wrong number of dims
        out = csr_array(t, t_shape, dtype=dtype, index_dtype=index_dtype,
                        sorted_indices=sorted_indices, canonical=canonical, copy=copy)
    except (TypeError, ValueError, OverflowError) as e:
        raise _renamed(e) from None
    return CSCArray._of_transpose(out)


def csc_product(a, b, stream):
    """``a @ b`` with a CSCArray operand: the CSR kernels on its stored transpose,
    ``A @ x = (x^T @ A^T)^T``; CSC @ CSC is the CSC of ``B^T @ A^T``, as in scipy."""
    from ._ops import _dense, matmul, spgemm

    a_csc, b_csc = isinstance(a, CSCArray), isinstance(b, CSCArray)
    if a_csc and b_csc:
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"[csr_spgemm] dimension mismatch with signature "
                             f"(m,n={a.shape[1]}),(n={b.shape[0]},k)->(m,k)")
        return CSCArray._of_transpose(spgemm(b._tt(), a._tt(), stream=stream))
    other = b if a_csc else a
    if isinstance(other, SparseArray) or type(other).__module__.startswith("scipy.sparse"):
        return matmul(a.tocsr() if a_csc else a, b.tocsr() if b_csc else b, stream=stream)
    x = _dense(other, "matmul", stream)
    if x.ndim == 0:
        raise ValueError("[matmul] scalar operands are not allowed, use '*' instead")
    A = a if a_csc else b
    m, n = A.shape
    vector = x.ndim == 1
    inner = x.shape[-1 if vector or not a_csc else -2]
    if inner != (n if a_csc else m):
        sig = (f"(m={m},n={n}),{'(n)' if vector else '(...,n,k)'}" if a_csc
               else f"{'(m)' if vector else '(...,p,m)'},(m={m},n={n})")
        raise ValueError(f"[matmul] dimension mismatch with signature {sig}: the dense operand "
                         f"has shape {tuple(x.shape)}")
    t = A._tt()
    if vector:  # A x = x A^T and x A = A^T x
        return matmul(x, t, stream=stream) if a_csc else matmul(t, x, stream=stream)
    xt = mx.swapaxes(x, -1, -2)
    y = matmul(xt, t, stream=stream) if a_csc else matmul(t, xt, stream=stream)
    return mx.swapaxes(y, -1, -2)
