"""Host-side layout handling shared by the block-sparse ops: validation with the op's name,
and the index tables (LUTs) each op derives from a layout once, on the host, with numpy.

A layout is a (B, M/bs, N/bs) array of bools or 0/1 integers. A block-sparse tensor in
compressed form is (n, bs, bs): the layout's non-zero blocks in row-major (batch, row,
column) order, as in blksprs. Layouts are read on the host (their values decide every
shape), so they must be concrete arrays, not values traced inside ``mx.compile``.
"""

from __future__ import annotations

import functools

import mlx.core as mx
import numpy as np


def fail(op: str, message: str):
    raise ValueError(f"[blocksparse.{op}] {message}")


def layout_np(layout, op: str, name: str = "sparsity_layout") -> np.ndarray:
    """The layout as a C-contiguous numpy bool array (B, Mb, Nb); raises naming the op."""
    try:
        a = np.array(layout, copy=True) if not isinstance(layout, mx.array) else np.array(
            layout.astype(mx.int32) if layout.dtype != mx.bool_ else layout)
    except Exception as error:  # a traced value (mx.compile) cannot be read
        fail(op, f"{name} must be a concrete array (its values decide the shapes; close over it "
                 f"in mx.compile instead of passing it as an input): {error}")
    if a.ndim != 3:
        fail(op, f"{name} should be 3-D (batch, rows/bs, cols/bs) but has shape {a.shape}.")
    if a.dtype != np.bool_:
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            fail(op, f"{name} should hold bools or 0/1 but has dtype {a.dtype}.")
        if a.size and not np.isin(a, (0, 1)).all():
            fail(op, f"{name} should hold only 0 and 1.")
        a = a != 0
    return np.ascontiguousarray(a)


def layout_out(a: np.ndarray, like=None) -> mx.array:
    """A host layout as an mx.array, in the dtype of the input layout ``like`` (bool otherwise)."""
    dtype = like.dtype if isinstance(like, mx.array) else mx.bool_
    return mx.array(a).astype(dtype)


def check_block_size(bs, op: str, name: str = "sparsity_block_size") -> int:
    if isinstance(bs, (bool, np.bool_)) or not isinstance(bs, (int, np.integer)) or bs < 1:
        fail(op, f"{name} should be a positive int but {bs!r} was given.")
    return int(bs)


def check_float(x, op: str, name: str = "x"):
    if not isinstance(x, mx.array):
        fail(op, f"{name} should be an mx.array but is {type(x).__name__}.")
    if not mx.issubdtype(x.dtype, mx.floating):
        fail(op, f"{name} should be floating point (float32, float16, bfloat16) but is {x.dtype}.")


def check_compressed(x, layout: np.ndarray, bs: int, op: str, name: str = "x", cols=None):
    """x is the compressed form of ``layout``: (n_blocks, bs, bs) (or (n, bs, cols))."""
    check_float(x, op, name)
    n = int(layout.sum())
    want = (n, bs, bs if cols is None else cols)
    if tuple(x.shape) != want:
        fail(op, f"{name} should be compressed with shape (n_blocks={n}, {bs}, {want[2]}) for its "
                 f"layout and block size {bs}, but has shape {tuple(x.shape)}.")


def check_adaption(x, layout_from, bs_from, bs_to, op: str):
    """The checked arguments of a re-blocking (adapt_layout and its layout builder): the two
    block sizes, the source layout (numpy) and the tensor's (batch, rows, columns)."""
    bs_from = check_block_size(bs_from, op, "sparsity_block_size_from")
    bs_to = check_block_size(bs_to, op, "sparsity_block_size_to")
    lf = layout_np(layout_from, op, "sparsity_layout_from")
    check_compressed(x, lf, bs_from, op)
    b, m, n = lf.shape[0], lf.shape[1] * bs_from, lf.shape[2] * bs_from
    if m % bs_to or n % bs_to:
        fail(op, f"sparsity_block_size_to {bs_to} should divide the tensor's rows and "
                 f"columns ({m}, {n}).")
    return bs_from, bs_to, lf, (b, m, n)


def check_dense(x, bs: int, op: str, name: str = "x"):
    """x is a dense (B, M, N) tensor whose M and N the block size divides."""
    check_float(x, op, name)
    if x.ndim != 3:
        fail(op, f"{name} should be 3-D (batch, rows, cols) but has shape {tuple(x.shape)}.")
    if x.shape[1] % bs or x.shape[2] % bs:
        fail(op, f"block size {bs} should divide the rows and columns of {name} "
                 f"but {name} has shape {tuple(x.shape)}.")


def check_layout_shape(layout: np.ndarray, want, op: str, name: str = "sparsity_layout"):
    if tuple(layout.shape) != tuple(want):
        fail(op, f"{name} should have shape {tuple(want)} but has shape {tuple(layout.shape)}.")


@functools.lru_cache(maxsize=256)
def _luts(key: bytes, shape: tuple):
    layout = np.frombuffer(key, dtype=np.bool_).reshape(shape)
    lut = np.argwhere(layout).astype(np.int32)  # (n, 3): batch, row, col of each block
    reverse = np.full(layout.size, -1, np.int32)
    reverse[layout.reshape(-1)] = np.arange(lut.shape[0], dtype=np.int32)
    lut.setflags(write=False)
    reverse.setflags(write=False)
    return lut, reverse.reshape(shape)


def lut(layout: np.ndarray) -> np.ndarray:
    """(n, 3) int32: (batch, row, col) of each stored block, in storage order."""
    return _luts(layout.tobytes(), layout.shape)[0]


def reverse_lut(layout: np.ndarray) -> np.ndarray:
    """layout-shaped int32: the storage index of each block, -1 where absent."""
    return _luts(layout.tobytes(), layout.shape)[1]


def block_rows(layout: np.ndarray):
    """For each stored block, the index of its (batch, row) among the layout's non-empty rows;
    and the (B, Mb, 1) layout of those rows (row-wise results use it)."""
    rows = layout.any(axis=-1, keepdims=True)
    return reverse_lut(rows)[lut(layout)[:, 0], lut(layout)[:, 1], 0], rows


def take_blocks(x: mx.array, index: np.ndarray) -> mx.array:
    """x[index] along axis 0 (a gather; its gradient is a scatter-add)."""
    if index.size == 0:  # MLX's gather has no gradient for an empty index
        return mx.zeros((0, *x.shape[1:]), dtype=x.dtype)
    return mx.take(x, mx.array(np.ascontiguousarray(index, dtype=np.int32)), axis=0)
