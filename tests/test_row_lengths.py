"""RowLengths: the longest row of A and of A^T, from which the GPU picks its product kernels
(a group of lanes per row when no row is long, load-balanced chunks of entries otherwise).
Results must never depend on them: every product is checked against dense float64
references with the true lengths, unknown lengths and wrong ones. On the GPU
(MLX_SPARSE_TEST_DEVICE=gpu) these cases run both kernel families at every lane count."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse import _ext
from conftest import VALUE_DTYPES, VALUE_IDS, assert_close, rand, to_mx


def pattern(m, n, mean, long_row=0, seed=0):
    """m x n with about `mean` entries per row (so every GPU lane count is used) and, when
    long_row, one row of that many entries (past any group's fair share of the work)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(0, mean - 2), mean + 3, size=m)
    if long_row and m:
        lengths[m // 2] = long_row
    lengths = np.minimum(lengths, n)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([rng.choice(n, size=k, replace=False) for k in lengths]
                             + [np.zeros(0, np.int64)]).astype(np.int64)
    data = rng.uniform(-1, 1, size=indices.size)
    return sp.csr_array((data, indices, indptr), shape=(m, n))


def true_lengths(S):
    if S.nnz == 0:
        return _ext.RowLengths(0, 0)
    return _ext.RowLengths(int(np.diff(S.indptr).max()),
                           int(np.bincount(S.indices, minlength=S.shape[1]).max()))


LENGTHS = {
    "true": true_lengths,
    "unknown": lambda S: _ext.RowLengths(),
    "too_small": lambda S: _ext.RowLengths(1, 1),  # claims short rows: by-row kernels anyway
    "too_large": lambda S: _ext.RowLengths(10**9, 10**9),
}
# mean row lengths that pick 1, 2, 4, 8, 16 and 32 lanes per row; one long row of 3000
PATTERNS = [(300, 200, 1, 0), (200, 150, 6, 0), (120, 400, 12, 0), (150, 300, 24, 0),
            (90, 500, 40, 0), (60, 900, 80, 0), (400, 3500, 4, 3000), (0, 5, 0, 0),
            (5, 0, 0, 0), (6, 9, 0, 0)]


@pytest.mark.parametrize("shape", PATTERNS, ids=lambda p: f"{p[0]}x{p[1]}~{p[2]}+{p[3]}")
@pytest.mark.parametrize("lengths", list(LENGTHS))
@pytest.mark.parametrize("k", [None, 1, 3, 64, 128, 130])
@pytest.mark.parametrize("index_dtype", [mx.int32, mx.int64], ids=["i32", "i64"])
def test_products_whatever_the_lengths(shape, lengths, k, index_dtype):
    m, n, mean, long_row = shape
    S = pattern(m, n, mean, long_row, seed=m + n)
    L = LENGTHS[lengths](S)
    dtype = mx.float32
    ip, ix = mx.array(S.indptr).astype(index_dtype), mx.array(S.indices).astype(index_dtype)
    v = to_mx(S.data, dtype)
    D = S.toarray()
    B = rand((n,) if k is None else (n, k), seed=1)
    W = rand((m,) if k is None else (m, k), seed=2)
    prod = _ext.csr_spmv if k is None else _ext.csr_spmm
    t = _ext.csr_transpose(ip, ix, n)
    assert_close(prod(ip, ix, v, to_mx(B, dtype), n, False, [], L), D @ B, dtype)
    for cache in ([], t):  # A^T @ W: scatter / gather over A^T's structure
        assert_close(prod(ip, ix, v, to_mx(W, dtype), n, True, cache, L), D.T @ W, dtype)


@pytest.mark.parametrize("dtype", VALUE_DTYPES, ids=VALUE_IDS)
@pytest.mark.parametrize("long_row", [0, 3000])
@pytest.mark.parametrize("k", [None, 5, 64, 128])  # each column tile width of the GPU kernels
@pytest.mark.parametrize("index_dtype", [mx.int32, mx.int64], ids=["i32", "i64"])
def test_value_dtypes_and_batches(dtype, long_row, k, index_dtype):
    # rows of about 80 entries (spmv's widest group, 32 lanes per row), or one long row
    S = pattern(300, 3500, 9 if long_row else 80, long_row, seed=3)
    L = true_lengths(S)
    ip, ix = mx.array(S.indptr).astype(index_dtype), mx.array(S.indices).astype(index_dtype)
    data = np.stack([S.data, 2 * S.data])  # a batch of two value sets
    B = rand((2, 3500) if k is None else (2, 3500, k), seed=4, dtype=dtype)
    prod = _ext.csr_spmv if k is None else _ext.csr_spmm
    got = prod(ip, ix, to_mx(data, dtype), to_mx(B, dtype), 3500, False, [], L)
    D = S.toarray()
    want = np.stack([D @ B[0], 2 * D @ B[1]])
    scale = np.stack([np.abs(D) @ np.abs(B[0]), 2 * np.abs(D) @ np.abs(B[1])])
    assert got.dtype == dtype
    assert_close(got, want, dtype, scale=scale)
    # A^T @ W by atomic scatter (no A^T structure given), in this value and index type
    W = rand((2, 300) if k is None else (2, 300, k), seed=5, dtype=dtype)
    got = prod(ip, ix, to_mx(data, dtype), to_mx(W, dtype), 3500, True, [], L)
    want = np.stack([D.T @ W[0], 2 * D.T @ W[1]])
    scale = np.stack([np.abs(D.T) @ np.abs(W[0]), 2 * np.abs(D.T) @ np.abs(W[1])])
    assert_close(got, want, dtype, scale=scale)


@pytest.mark.parametrize("long_row", [0, 3000])
def test_gradients_carry_the_lengths(long_row):
    """The backward products (A^T @ cotangent) use A^T's longest row, A's on the way back."""
    S = pattern(300, 3500, 9, long_row, seed=5)
    A = ms.csr_array(S.astype(np.float32))
    A._require_valid("csr_spmm")  # what a GPU product does first: lengths become known
    L = A._lengths()
    assert (L.max_row, L.max_col) == (true_lengths(S).max_row, true_lengths(S).max_col)
    B = mx.array(rand((3500, 8), seed=6).astype(np.float32))
    W = mx.array(rand((300, 8), seed=7).astype(np.float32))

    def loss(v, b):
        return mx.sum(W * (A.with_data(v) @ b))

    dv, dB = mx.grad(loss, argnums=(0, 1))(A.data, B)
    D = S.toarray()
    assert_close(dB, D.T @ np.asarray(W), mx.float32)
    ip, ix = np.asarray(A.indptr), np.asarray(A.indices)
    rows = np.repeat(np.arange(300), np.diff(ip))
    assert_close(dv, (np.asarray(W)[rows] * np.asarray(B)[ix]).sum(1), mx.float32)


def test_lengths_of_a_pattern():
    S = sp.csr_array((np.ones(5), [0, 2, 2, 1, 2], [0, 3, 3, 5]), shape=(3, 4))
    A = ms.csr_array(S)
    assert A._lengths().max_row == -1  # not known until checked for the GPU
    A._require_valid("csr_spmv")
    assert (A._lengths().max_row, A._lengths().max_col) == (3, 3)
    E = ms.csr_array(sp.csr_array((4, 4), dtype=np.float32))
    E._require_valid("csr_spmv")
    assert (E._lengths().max_row, E._lengths().max_col) == (0, 0)


@pytest.mark.parametrize("k", [64, 128])
@pytest.mark.parametrize("long_row", [0, 3000])
def test_dense_operand_at_an_odd_offset(k, long_row):
    """B starting one value into its buffer: the GPU's packed row loads must step aside."""
    S = pattern(300, 700, 9, long_row, seed=8)
    flat = mx.array(rand((700 * k + 1,), seed=9).astype(np.float32))
    B = flat[1:].reshape(700, k)
    ip, ix = mx.array(S.indptr).astype(mx.int32), mx.array(S.indices).astype(mx.int32)
    got = _ext.csr_spmm(ip, ix, to_mx(S.data), B, 700, False, [], true_lengths(S))
    assert_close(got, S.toarray() @ np.asarray(B, dtype=np.float64), mx.float32)
