"""2-D convolution through sparse Toeplitz matrices: ``convolution_matrix2d``,
``convolve2d`` and ``Toeplitz_convolution2d`` (the class of the sparse_convolution package).

Convolving an (H, W) image with a (kH, kW) kernel is the product of its flattened pixels with
the doubly-blocked Toeplitz matrix T of the kernel, (H_out * W_out, H * W): row (r, c) of T
holds k[a, b] at column (r + top - a, c + left - b), where (top, left) is where the mode's
output starts in the full output, exactly as ``scipy.signal.convolve2d`` (true convolution).

The pattern of T depends only on the shapes and the mode: it is built once on the host and
cached; its values are a fixed gather of the kernel (``mx.take``), so gradients reach k.
Every kernel entry is stored, zeros included (as scipy.sparse keeps the explicit zeros it is
given), so the pattern never depends on values and a zero entry still learns. A kernel of
shape (C_out, C_in, kH, kW) gives the block matrix of C_out x C_in such blocks: channel-major
rows (C_out * H_out * W_out) and columns (C_in * H * W).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import mlx.core as mx
import numpy as np

from . import _dtypes, _ext
from ._base import SparseArray, _tracing, check_shape
from ._construct import csr_array
from ._csr import CSRArray
from ._ops import _check_float64_device, _dense, _is_scipy_sparse, _on_gpu, spmm, spmv

MODES = ("full", "same", "valid")
_INT32_MAX = _dtypes.INT32_MAX  # a name of this module, so a test can lower it


class _Pattern(NamedTuple):
    """A cached Toeplitz pattern: CSR structure, the kernel entry of every stored value, and
    one structure cache that every matrix of this pattern shares (checks, transposes)."""

    indptr: mx.array
    indices: mx.array
    kernel_index: mx.array
    shape: tuple
    cache: dict


def output_shape(x_shape, k_shape, mode: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((H_out, W_out), (top, left)): the output's size and where it starts in the full one."""
    if mode not in MODES:
        raise ValueError(f"[convolve2d] mode must be one of {', '.join(MODES)}; got {mode!r}")
    (H, W), (kH, kW) = x_shape, k_shape
    if mode == "full":
        return (H + kH - 1, W + kW - 1), (0, 0)
    if mode == "same":
        return (H, W), ((kH - 1) // 2, (kW - 1) // 2)
    if H < kH or W < kW:  # scipy swaps the operands when k is larger in both: we do not
        raise ValueError(f"[convolve2d] mode 'valid' needs an image at least as large as the kernel "
                         f"in both dimensions; got image {(H, W)} and kernel {(kH, kW)}")
    return (H - kH + 1, W - kW + 1), (kH - 1, kW - 1)


def _image_shape(shape, what: str = "x_shape") -> tuple[int, int]:
    H, W = check_shape(shape, "convolve2d")
    if H < 1 or W < 1:
        raise ValueError(f"[convolve2d] {what} must be positive, got {(H, W)}")
    return (H, W)


def _axis(n_rows: int, n_cols: int, k: int, start: int, sign: int):
    """One axis of the pattern: for row coordinate i and kernel offset a (in column order),
    the column coordinate ``i + sign * (start - a)`` and whether it lies inside."""
    a = np.arange(k)[::-1] if sign > 0 else np.arange(k)
    col = np.arange(n_rows)[:, None] + sign * (start - a[None, :])
    return a, col, (col >= 0) & (col < n_cols)


def _single_pattern(x_shape, k_shape, mode, transposed):
    """(indptr, indices, kernel_index, shape) of T (or T^T) on the host, vectorised: an
    entry for every (output pixel, kernel entry) pair that lands inside the image. Within a
    row the kernel entries run in the order that makes the columns increase (canonical)."""
    (H_out, W_out), (top, left) = output_shape(x_shape, k_shape, mode)
    grids = [(H_out, W_out), tuple(x_shape)]
    (Hr, Wr), (Hc, Wc) = grids[::-1] if transposed else grids
    sign = -1 if transposed else 1
    a, y, in_y = _axis(Hr, Hc, k_shape[0], top, sign)
    b, x, in_x = _axis(Wr, Wc, k_shape[1], left, sign)
    inside = in_y[:, None, :, None] & in_x[None, :, None, :]  # (row y, row x, a, b)
    cols = (y * Wc)[:, None, :, None] + x[None, :, None, :]
    kernel = a[:, None] * k_shape[1] + b[None, :]
    counts = np.outer(in_y.sum(1), in_x.sum(1)).ravel()
    indptr = np.zeros(Hr * Wr + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return (indptr, np.broadcast_to(cols, inside.shape)[inside],
            np.broadcast_to(kernel, inside.shape)[inside], (Hr * Wr, Hc * Wc))


def _blocks(single, channels, transposed, k_size):
    """The block matrix of C_out x C_in single-channel blocks (C_in x C_out transposed), rows
    and columns channel-major: block (o, i) gathers kernel (o, i)."""
    indptr, indices, kernel, (R, C) = single
    P, Q = channels[::-1] if transposed else channels
    p, q = np.meshgrid(np.arange(P), np.arange(Q), indexing="ij")
    out_in = (q * P + p) if transposed else (p * Q + q)  # index of kernel (o, i)
    rows = np.repeat(np.arange(R), np.diff(indptr))
    # entries ordered (p, q, e); a stable sort by row keeps q, then e, increasing in a row
    row = (p[..., None] * R + rows).ravel()
    order = np.argsort(row, kind="stable")
    col = (q[..., None] * C + indices).ravel()[order]
    kernel = (out_in[..., None] * k_size + kernel).ravel()[order]
    full_indptr = np.zeros(P * R + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=P * R), out=full_indptr[1:])
    return full_indptr, col, kernel, (P * R, Q * C)


@functools.lru_cache(maxsize=64)
def _pattern(x_shape, k_shape, channels, mode, index_dtype, transposed) -> _Pattern:
    """The pattern of T (or of T^T), built once per key; a training loop reuses it."""
    single = _single_pattern(x_shape, k_shape, mode, transposed)
    if channels != (1, 1):
        single = _blocks(single, channels, transposed, k_shape[0] * k_shape[1])
    indptr, indices, kernel, shape = single
    npi = np.int32 if index_dtype == "int32" else np.int64
    return _Pattern(mx.array(indptr.astype(npi)), mx.array(indices.astype(npi)),
                    mx.array(kernel.astype(npi)), shape, {})


def _index_dtype(x_shape, k_shape, channels, mode, index_dtype) -> str:
    """int32 when the shape and the entries fit in it, else int64; int32 asked for on sizes
    beyond it is refused rather than wrapped."""
    (H_out, W_out), _ = output_shape(x_shape, k_shape, mode)
    n_out, n_in = channels[0] * H_out * W_out, channels[1] * x_shape[0] * x_shape[1]
    largest = max(n_out, n_in, n_out * k_shape[0] * k_shape[1] * channels[1])  # nnz bound
    if index_dtype is None:
        return "int32" if largest <= _INT32_MAX else "int64"
    index_dtype = _dtypes.index_dtype(index_dtype, "convolve2d")
    if index_dtype == mx.int32 and largest > _INT32_MAX:
        raise OverflowError(f"[convolve2d] a matrix ({n_out}, {n_in}) with up to {largest} entries "
                            "does not fit int32 indices: pass index_dtype=int64 or None")
    return "int32" if index_dtype == mx.int32 else "int64"


def _kernel(k, dtype=None, stream=None) -> mx.array:
    """k as a floating mx.array of shape (kH, kW) or (C_out, C_in, kH, kW); integer kernels
    become float32 (float64 where float32 could not hold them)."""
    if isinstance(k, SparseArray) or _is_scipy_sparse(k):
        k = k.todense() if isinstance(k, SparseArray) else k.toarray()
    k = _dense(k, "convolve2d", stream)
    if k.ndim not in (2, 4) or min(k.shape, default=0) < 1:
        raise ValueError(f"[convolve2d] the kernel must be 2-D (kH, kW) or 4-D (C_out, C_in, kH, kW) "
                         f"with no empty dimension; got shape {tuple(k.shape)}")
    if dtype is not None:
        dtype = _dtypes.value_dtype(dtype, "convolve2d")
        if dtype == mx.float64:
            _check_float64_device("convolve2d", stream)
        return k.astype(dtype)
    if k.dtype not in _dtypes.VALUE_DTYPES:
        wide = k.dtype in (mx.int64, mx.uint64, mx.int32, mx.uint32)
        return k.astype(mx.float64 if wide and mx.abs(k).max().item() > 2**24 else mx.float32)
    return k


def _matrix(x_shape, k: mx.array, mode, index_dtype, transposed) -> CSRArray:
    k_shape, channels = tuple(k.shape[-2:]), (tuple(k.shape[:2]) if k.ndim == 4 else (1, 1))
    idt = _index_dtype(x_shape, k_shape, channels, mode, index_dtype)
    p = _pattern(tuple(x_shape), k_shape, channels, mode, idt, transposed)
    values = mx.take(mx.reshape(k, (-1,)), p.kernel_index)
    out = CSRArray(values, p.indices, p.indptr, p.shape, sorted_indices=True, canonical=True,
                   check=False)
    out._cache = p.cache
    return out


def convolution_matrix2d(x_shape, k, mode: str = "same", *, dtype=None, index_dtype=None) -> CSRArray:
    """The doubly-blocked Toeplitz matrix T of kernel k: ``T @ x.ravel()`` is
    ``scipy.signal.convolve2d(x, k, mode).ravel()`` for an image x of shape ``x_shape``.

    Parameters
    ----------
    x_shape : (int, int)
        The image's shape (H, W).
    k : array
        The kernel, (kH, kW); or (C_out, C_in, kH, kW) for the block matrix of a
        multi-channel convolution (rows and columns channel-major).
    mode : {"full", "same", "valid"}
        As ``scipy.signal.convolve2d``; "valid" needs an image at least as large as k.
    dtype, index_dtype
        Value dtype (default: k's, integers as float32) and index dtype (default: int32
        when the sizes fit, else int64).

    Returns
    -------
    CSRArray of shape (H_out * W_out, H * W), canonical. Every kernel entry is stored, zeros
    included; the values are gathered from k, so gradients reach k. The pattern is cached
    per (x_shape, k's shape, mode, index dtype).
    """
    return _matrix(_image_shape(x_shape), _kernel(k, dtype), mode, index_dtype, False)


def _result_dtype(k: mx.array, x_dtype) -> mx.Dtype:
    """The dtype both operands take: the wider float, so no precision is lost silently."""
    if x_dtype not in _dtypes.VALUE_DTYPES or x_dtype == k.dtype:
        return k.dtype
    if mx.float64 in (x_dtype, k.dtype):
        return mx.float64
    return mx.float32  # float32 with a half type, or float16 with bfloat16


def convolve2d(x, k, mode: str = "same", *, x_shape=None, dense_output=False, stream=None):
    """2-D convolution of one image or a batch with kernel k, as ``scipy.signal.convolve2d``
    (true convolution; modes full, same, valid) through its Toeplitz matrix.

    - dense x of shape (H, W), or (N, H, W), without ``x_shape`` -> (H_out, W_out),
      (N, H_out, W_out): a sparse matrix-vector (matrix) product;
    - dense x of shape (N, H * W) with ``x_shape=(H, W)`` -> (N, H_out * W_out) by SpMM;
    - a CSRArray (or scipy.sparse) x of shape (N, H * W) with ``x_shape`` -> a canonical
      CSRArray (N, H_out * W_out), exact zeros dropped as scipy's products drop them (a
      direct kernel on the CPU, SpGEMM with T^T on the GPU; under ``mx.compile`` and
      ``mx.vmap``, which cannot read values, the zeros are kept); with
      ``dense_output=True`` a dense (N, H_out * W_out) by SpMM, which on a GPU is the faster
      way to dense results (no sparse pattern to find).

    k may also be (C_out, C_in, kH, kW): then x's rows hold C_in channel-major images
    (N, C_in * H * W) and the output C_out. The result has the wider dtype of x and k.
    Differentiable to x (its values, when sparse) and to k; the exact zeros a sparse output
    drops carry no gradient (so a zero kernel learns nothing there: nn.SparseConv2d keeps them).
    """
    k = _kernel(k, stream=stream)
    channels_in = k.shape[1] if k.ndim == 4 else 1
    if _is_scipy_sparse(x):
        x = csr_array(x)
    if isinstance(x, SparseArray) and dense_output:
        return _convolve_to_dense(x.tocsr(), k, mode, x_shape, channels_in, stream)
    if isinstance(x, SparseArray):
        return _convolve_sparse(x.tocsr(), k, mode, x_shape, channels_in, stream)
    x = _dense(x, "convolve2d", stream)
    if x_shape is None:
        if x.ndim not in (2, 3) or k.ndim == 4:
            raise ValueError(f"[convolve2d] without x_shape, x must be one image (H, W) or a batch "
                             f"(N, H, W) and k 2-D; got x {tuple(x.shape)} and k {tuple(k.shape)}")
        x_shape = _image_shape(x.shape[-2:], "x's image shape")
        (H_out, W_out), _ = output_shape(x_shape, k.shape, mode)
        flat = mx.reshape(x, (*x.shape[:-2], -1))
        out = _convolve_dense(flat, k, mode, x_shape, stream)
        return mx.reshape(out, (*x.shape[:-2], H_out, W_out))
    x_shape = _image_shape(x_shape)
    _check_batch(x, x_shape, channels_in)
    return _convolve_dense(x, k, mode, x_shape, stream)


def _sparse_x_shape(x_shape) -> tuple[int, int]:
    if x_shape is None:
        raise ValueError("[convolve2d] a sparse x is a batch of flattened images (N, H * W): "
                         "pass x_shape=(H, W)")
    return _image_shape(x_shape)


def _check_batch(x, x_shape, channels_in):
    width = channels_in * x_shape[0] * x_shape[1]
    if len(x.shape) != 2 or x.shape[1] != width:
        raise ValueError(f"[convolve2d] with x_shape={x_shape}, x must be a batch of flattened images "
                         f"(N, {width}); got shape {tuple(x.shape)}")


def _convolve_dense(x: mx.array, k: mx.array, mode, x_shape, stream) -> mx.array:
    """(..., C_in * H * W) -> (..., C_out * H_out * W_out): T @ x for one row, else (T @ X^T)^T."""
    dtype = _result_dtype(k, x.dtype)
    T = _matrix(x_shape, k.astype(dtype), mode, None, False)
    x = x.astype(dtype)
    if x.ndim == 1:
        return spmv(T, x, stream=stream)
    flat = mx.reshape(x, (-1, x.shape[-1]))
    out = mx.swapaxes(spmm(T, mx.swapaxes(flat, 0, 1), stream=stream), 0, 1)
    return mx.reshape(out, (*x.shape[:-1], T.shape[0]))


def _convolve_sparse(x: CSRArray, k, mode, x_shape, channels_in, stream, drop_zeros=True) -> CSRArray:
    """X @ T^T: the output pattern from the host (every pixel a stored pixel reaches), the
    values by csr_convolve2d (a direct kernel on the CPU, the SpGEMM with T^T on the GPU)."""
    x_shape = _sparse_x_shape(x_shape)
    _check_batch(x, x_shape, channels_in)
    dtype = _result_dtype(k, x.dtype)
    k_shape, channels = tuple(k.shape[-2:]), (tuple(k.shape[:2]) if k.ndim == 4 else (1, 1))
    idt = _index_dtype(x_shape, k_shape, channels, mode, mx.int64 if x.index_dtype == mx.int64
                       else None)
    if idt == "int64" and x.index_dtype != mx.int64:
        x = x.astype(x.dtype, mx.int64)
    TT = _pattern(x_shape, k_shape, channels, mode, idt, True)
    (H_out, W_out), (top, left) = output_shape(x_shape, k_shape, mode)
    sizes = [*x_shape, H_out, W_out, top, left]
    indptr, indices = _output_pattern(x, (*sizes, *k_shape, channels[1], channels[0]))
    values = _ext.csr_convolve2d(x.indptr, x.indices, x.data.astype(dtype), k.astype(dtype),
                                 TT.indptr, TT.indices, TT.kernel_index, indptr, indices, sizes,
                                 stream=stream)
    out = CSRArray(values, indices, indptr, (x.shape[0], TT.shape[1]), sorted_indices=True,
                   canonical=True, check=False)
    if not drop_zeros or _tracing(out.data):  # compile and vmap keep the product's pattern
        return out
    # one host pass finds out whether there is anything to drop (eliminate_zeros also checks)
    values = out.data.astype(mx.float32) if out.dtype == mx.bfloat16 else out.data
    return out if np.asarray(values).all() else out.eliminate_zeros()


def _convolve_to_dense(x: CSRArray, k, mode, x_shape, channels_in, stream) -> mx.array:
    """X @ T^T as a dense (N, C_out * H_out * W_out). On a GPU, (T @ X^T)^T by SpMM on X^T
    made dense (its structure is cached; no transposed copies of dense arrays, no pattern to
    find on the host); on the CPU the direct kernel's sparse result made dense."""
    x_shape = _sparse_x_shape(x_shape)
    _check_batch(x, x_shape, channels_in)
    if not _on_gpu(stream):
        out = _convolve_sparse(x, k, mode, x_shape, channels_in, stream, drop_zeros=False)
        return out.todense(stream=stream)
    return _dense_by_spmm(x, k, mode, x_shape, stream)


def _dense_by_spmm(x: CSRArray, k, mode, x_shape, stream) -> mx.array:
    dtype = _result_dtype(k, x.dtype)
    T = _matrix(x_shape, k.astype(dtype), mode, None, False)
    xt = x.astype(dtype).T.todense(stream=stream)
    return mx.swapaxes(spmm(T, xt, stream=stream), 0, 1)


def _output_pattern(x: CSRArray, sizes: tuple):
    """The output's (indptr, indices): x's pattern keeps the last one with its sizes as the
    key, so a loop over the same images with new values finds it once."""
    last = x._cache.get("convolve2d")
    if last is not None and last[0] == sizes:
        return last[1], last[2]
    indptr, indices = _ext.csr_convolve2d_symbolic(x.indptr, x.indices, list(sizes))
    x._cache["convolve2d"] = (sizes, indptr, indices)
    return indptr, indices


class Toeplitz_convolution2d:
    """sparse_convolution 0.4.2's class on MLX: convolve many images of one shape with one
    kernel through its Toeplitz matrix (built at construction, cached by pattern).

    ``conv(x, batching=True)`` takes a batch of flattened images (N, H * W); with
    ``batching=False`` x is one image (H, W). The output has x's kind: scipy.sparse in gives
    a ``scipy.sparse.csr_matrix`` (exact zeros dropped), a CSRArray a CSRArray, a numpy array
    a numpy array, an mx.array an mx.array. ``mode`` may be overridden per call.

    dtype is the dtype of the computation (default: the wider of k's and x's; sparse_convolution
    takes k's, which may narrow a float64 x).
    """

    def __init__(self, x_shape, k, mode: str = "same", dtype=None):
        self.x_shape = _image_shape(x_shape)
        self.dtype = None if dtype is None else _dtypes.value_dtype(dtype, "convolve2d")
        self.k = _kernel(k, self.dtype)
        if self.k.ndim != 2:
            raise ValueError(f"[convolve2d] Toeplitz_convolution2d takes a 2-D kernel, got shape "
                             f"{tuple(self.k.shape)}")
        self.mode = mode
        _matrix(self.x_shape, self.k, mode, None, False)  # checks the mode and builds the pattern

    def __call__(self, x, batching: bool = True, mode=None):
        mode = self.mode if mode is None else mode
        H, W = self.x_shape
        scipy_in = _is_scipy_sparse(x)
        numpy_in = not scipy_in and not isinstance(x, (mx.array, SparseArray))
        if scipy_in:
            x = csr_array(x, dtype=self.dtype)
        elif numpy_in:
            x = _dense(x, "convolve2d")
        if self.dtype is not None:
            x = x.astype(self.dtype)
        if not batching:
            if tuple(x.shape) != self.x_shape:
                raise ValueError(f"[convolve2d] with batching=False, x must be one image "
                                 f"{self.x_shape}; got shape {tuple(x.shape)}")
            x = _reshape(x, (1, H * W))
        out = convolve2d(x, self.k, mode, x_shape=self.x_shape)
        if not batching:
            out = _reshape(out, output_shape(self.x_shape, self.k.shape, mode)[0])
        if scipy_in:
            import scipy.sparse as sp

            return sp.csr_matrix(out.toscipy())
        return np.array(out) if numpy_in else out


def _reshape(x, shape):
    """A dense array reshaped; a CSRArray's entries moved to the same flat positions (its
    values gathered in CSR order, which row-major positions keep: still canonical)."""
    if not isinstance(x, SparseArray):
        return mx.reshape(x, shape)
    x = x.tocsr()
    x._require_valid("convolve2d")
    ip, ix = x._host_structure()
    flat = np.repeat(np.arange(x.shape[0], dtype=np.int64), np.diff(ip)) * x.shape[1] + ix
    order = np.argsort(flat, kind="stable")
    flat = flat[order]
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(flat // shape[1], minlength=shape[0]), out=indptr[1:])
    npi = np.int64 if x.index_dtype == mx.int64 else np.int32
    data = x.data if np.all(order[1:] > order[:-1]) else mx.take(x.data, mx.array(order.astype(npi)))
    return CSRArray(data, mx.array((flat % shape[1]).astype(npi)), mx.array(indptr.astype(npi)),
                    tuple(shape), sorted_indices=True,
                    canonical=x.has_canonical_format or None)
