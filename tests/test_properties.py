"""Property tests (hypothesis): random shapes 0..12, densities, duplicates, unsorted rows,
explicit zeros and dtypes; every result against dense numpy in float64."""

import os

import mlx.core as mx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mlx_sparse as ms
from conftest import VALUE_DTYPES, assert_close, rounded, to_mx

SETTINGS = settings(max_examples=int(os.environ.get("MLX_SPARSE_EXAMPLES", "30")), deadline=None)
DTYPES = st.sampled_from(VALUE_DTYPES)
INDEX_DTYPES = st.sampled_from([mx.int32, mx.int64])


@st.composite
def sparse(draw, m=None, n=None, dtype=None):
    """(CSRArray, dense float64, |dense| float64, dtype) of a random, possibly non-canonical matrix."""
    m = draw(st.integers(0, 12)) if m is None else m
    n = draw(st.integers(0, 12)) if n is None else n
    dtype = draw(DTYPES) if dtype is None else dtype
    index_dtype = draw(INDEX_DTYPES)
    density = draw(st.floats(0.0, 1.0))
    dup = draw(st.floats(0.0, 0.5))
    unsorted = draw(st.booleans())
    zeros = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, cols = np.nonzero(rng.random((m, n)) < density)
    if rows.size and dup > 0:
        extra = np.flatnonzero(rng.random(rows.size) < dup)
        rows, cols = np.concatenate([rows, rows[extra]]), np.concatenate([cols, cols[extra]])
    order = np.lexsort((rng.random(rows.size) if unsorted else cols, rows))
    rows, cols = rows[order], cols[order]
    vals = rng.uniform(-2, 2, rows.size)
    if zeros and vals.size:
        vals[rng.random(vals.size) < 0.3] = 0.0
    vals = rounded(vals, dtype)
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    A = ms.csr_array((to_mx(vals, dtype), cols, indptr), shape=(m, n), index_dtype=index_dtype)
    dense, absd = np.zeros((m, n)), np.zeros((m, n))
    np.add.at(dense, (rows, cols), vals)
    np.add.at(absd, (rows, cols), np.abs(vals))
    return A, dense, absd, dtype


def operand(draw, shape, dtype):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rounded(rng.uniform(-2, 2, shape), dtype)


@SETTINGS
@given(st.data())
def test_todense_property(data):
    A, D, _, dtype = data.draw(sparse())
    assert A.shape == D.shape
    assert_close(A.todense(), D, dtype, scale=np.abs(D).max(initial=0) + 1)


@SETTINGS
@given(st.data())
def test_spmv_property(data):
    A, D, S, dtype = data.draw(sparse())
    x = operand(data.draw, D.shape[1], dtype)
    y = A @ to_mx(x, dtype)
    assert y.shape == (D.shape[0],) and y.dtype == dtype
    assert_close(y, D @ x, dtype, scale=S @ np.abs(x))


@SETTINGS
@given(st.data(), st.integers(0, 9))
def test_spmm_property(data, k):
    A, D, S, dtype = data.draw(sparse())
    B = operand(data.draw, (D.shape[1], k), dtype)
    Y = A @ to_mx(B, dtype)
    assert Y.shape == (D.shape[0], k) and Y.dtype == dtype
    assert_close(Y, D @ B, dtype, scale=S @ np.abs(B))


@SETTINGS
@given(st.data())
def test_dense_at_sparse_property(data):
    A, D, S, dtype = data.draw(sparse())
    X = operand(data.draw, (3, D.shape[0]), dtype)
    Y = ms.matmul(to_mx(X, dtype), A)
    assert Y.shape == (3, D.shape[1])
    assert_close(Y, X @ D, dtype, scale=np.abs(X) @ S)


@SETTINGS
@given(st.data())
def test_spgemm_property(data):
    m, l, n = (data.draw(st.integers(0, 12)) for _ in range(3))
    A, DA, SA, dtype = data.draw(sparse(m, l, mx.float32))
    B, DB, SB, _ = data.draw(sparse(l, n, mx.float32))
    C = A @ B
    assert C.shape == (m, n) and C.has_canonical_format
    ip, ix = np.array(C.indptr), np.array(C.indices)
    assert all(np.all(np.diff(ix[ip[i]:ip[i + 1]]) > 0) for i in range(m))
    assert_close(C.todense(), DA @ DB, dtype, scale=SA @ SB)


@SETTINGS
@given(st.data())
def test_transpose_property(data):
    A, D, _, dtype = data.draw(sparse())
    T = A.T
    assert T.shape == D.shape[::-1] and T.nnz == A.nnz and T.has_sorted_indices
    assert_close(T.todense(), D.T, dtype, scale=np.abs(D).max(initial=0) + 1)
    assert_close(T.T.todense(), D, dtype, scale=np.abs(D).max(initial=0) + 1)


@SETTINGS
@given(st.data())
def test_sum_duplicates_property(data):
    A, D, _, dtype = data.draw(sparse())
    ip0, ix0 = np.array(A.indptr), np.array(A.indices)
    rows0 = np.repeat(np.arange(D.shape[0]), np.diff(ip0))
    unique = np.unique(rows0 * max(D.shape[1], 1) + ix0).size
    A.sum_duplicates()
    assert A.has_canonical_format
    assert A.nnz == unique
    ip, ix = np.array(A.indptr), np.array(A.indices)
    assert all(np.all(np.diff(ix[ip[i]:ip[i + 1]]) > 0) for i in range(D.shape[0]))
    assert_close(A.todense(), D, dtype, scale=np.abs(D).max(initial=0) + 1)
