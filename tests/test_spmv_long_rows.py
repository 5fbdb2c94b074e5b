"""SpMV on the CPU splits its entries into fixed chunks (csrc/cpu/scratch.h, kSpmvChunk), so
rows longer than a chunk (a dense row, power-law hubs) are summed in pieces across tasks:
against scipy, with rows that start, end or lie exactly on chunk boundaries, empty rows
around them, a batch, the transposed product, and the same bits for any number of threads."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_KERNELS, to_np

CHUNK = 8192  # kSpmvChunk

pytestmark = pytest.mark.skipif(GPU_KERNELS, reason="the CPU kernel's chunking")


def _from_lengths(lengths, n, seed=0, dtype=np.float32):
    """A CSR matrix whose rows have these lengths (columns drawn with repeats allowed, then
    made canonical by scipy: lengths are upper bounds for short rows, exact for n-wide ones)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.concatenate([rng.choice(n, size=k, replace=k > n) if k else np.zeros(0, int)
                           for k in lengths]).astype(np.int64)
    vals = rng.standard_normal(len(rows))
    S = sp.csr_array((vals, (rows, cols)), shape=(len(lengths), n))
    S.sum_duplicates()
    return S.astype(dtype)


def _check(S, threads=(1, 2), rtol=2e-5):
    x = np.random.default_rng(1).standard_normal(S.shape[1]).astype(S.dtype)
    A = ms.csr_array(S)
    xm = mx.array(x, dtype=A.dtype)  # mx.array alone would make float64 values float32
    ref = S.astype(np.float64) @ np.array(xm).astype(np.float64)
    results = []
    before = ms.num_threads()
    try:
        for t in threads:
            ms.set_num_threads(t)
            y = A @ xm
            mx.eval(y)
            results.append(np.array(y))
    finally:
        ms.set_num_threads(before)
    scale = np.abs(S.astype(np.float64)).sum(axis=1) * np.abs(x).max() + 1.0
    for y in results:
        assert np.all(np.abs(y - ref) <= rtol * scale)
    for y in results[1:]:  # the chunks do not depend on the thread count: the same bits
        np.testing.assert_array_equal(y, results[0])
    return A, xm, results[0]


def test_one_dense_row():
    n = 60_000
    lengths = [5] * 3000 + [n] + [5] * 3000
    _check(_from_lengths(lengths, n))


@pytest.mark.parametrize("first", [CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_rows_on_chunk_boundaries(first):
    """A first row of `first` entries puts the next row's start just before, on or after a
    boundary; the long row after it spans several chunks exactly or not."""
    n = 40_000
    lengths = [first, 0, 2 * CHUNK, 0, 0, 7, CHUNK, 1, 0]
    _check(_from_lengths(lengths, n, seed=first))


def test_many_long_rows_and_empty_ends():
    n = 30_000
    rng = np.random.default_rng(3)
    lengths = [0, 0] + list(rng.integers(0, 3 * CHUNK, size=12)) + [0, 0, 0]
    _check(_from_lengths(lengths, n))


def test_float64_and_float16():
    n = 20_000
    lengths = [3] * 100 + [n] + [CHUNK + 5] + [2] * 50
    _check(_from_lengths(lengths, n, dtype=np.float64), rtol=1e-12)
    S = _from_lengths(lengths, n)
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    y = ms.csr_array(S, dtype=mx.float16) @ mx.array(x).astype(mx.float16)
    ref = S.astype(np.float64) @ x.astype(np.float16).astype(np.float64)
    scale = np.abs(S.astype(np.float64)).sum(axis=1) * np.abs(x).max() + 1.0
    assert np.all(np.abs(to_np(y) - ref) <= 2e-2 * scale)


def test_batch_and_transposed_product():
    """A batch of values (vmap over data) and A.T @ x, which gathers over A^T's structure with
    values read through its permutation (a chunk copies its own values first)."""
    n = 25_000
    lengths = [4] * 200 + [3 * CHUNK] + [4] * 200
    S = _from_lengths(lengths, n)
    A = ms.csr_array(S)
    x = np.random.default_rng(4).standard_normal(n).astype(np.float32)
    batch = mx.stack([A.data, 2 * A.data, -A.data])
    ys = mx.vmap(lambda d: A.with_data(d) @ mx.array(x))(batch)
    ref = S.astype(np.float64) @ x.astype(np.float64)
    for i, f in enumerate((1, 2, -1)):
        np.testing.assert_allclose(np.array(ys[i]), f * ref, rtol=2e-4, atol=2e-3)
    # A^T has a long row where A has a long column
    T = sp.csr_array(S.T)
    B = ms.csr_array(T)
    z = np.random.default_rng(5).standard_normal(T.shape[0]).astype(np.float32)
    for _ in range(3):  # from the second product on, A^T's structure is cached and gathered
        got = np.array(B.T @ mx.array(z))
    np.testing.assert_allclose(got, S.astype(np.float64) @ z.astype(np.float64), rtol=2e-4,
                               atol=2e-3)


def test_gradient_through_a_long_row():
    n = 20_000
    S = _from_lengths([n, 3, 2 * CHUNK + 1], n)
    A = ms.csr_array(S)
    x = mx.array(np.random.default_rng(6).standard_normal(n).astype(np.float32))
    g = mx.grad(lambda v: mx.square(A.with_data(v) @ x).sum())(A.data)
    y = S.astype(np.float64) @ np.array(x).astype(np.float64)
    coo = S.tocoo()
    ref = 2 * y[coo.row] * np.array(x).astype(np.float64)[coo.col]
    np.testing.assert_allclose(np.array(g), ref, rtol=2e-4, atol=1e-2)
