"""coo_tocsr's GPU path (two csr_transpose sorts composed with MLX ops) through
_ext._coo_tocsr_composed, on the CPU stream (the GPU with MLX_SPARSE_TEST_DEVICE=gpu): against
scipy / numpy, and equal to the host path."""

import os
import re

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GPU_TESTS, INDEX_DTYPES, INDEX_IDS
import mlx_sparse as ms
from mlx_sparse import _ext

SHAPES = [(7, 96), (11, 55), (37, 29), (1, 1), (1, 9), (9, 1), (130, 97)]
KINDS = ["unsorted", "duplicates", "empty_rows", "sorted"]
STREAM = mx.gpu if GPU_TESTS else mx.cpu  # where the composed path runs


def composed(rows, cols, m, n, sum_duplicates, index_dtype):
    r, c = mx.array(rows, dtype=index_dtype), mx.array(cols, dtype=index_dtype)
    out = _ext._coo_tocsr_composed(r, c, m, n, sum_duplicates, stream=STREAM)
    return [np.array(a) for a in out]


def host(rows, cols, m, n, sum_duplicates, index_dtype):
    r, c = mx.array(rows, dtype=index_dtype), mx.array(cols, dtype=index_dtype)
    out = _ext.coo_tocsr(r, c, m, n, sum_duplicates, stream=mx.cpu)
    return [np.array(a) for a in out]


def entries(shape, kind, seed, density=0.3):
    """(rows, cols) int64 of random COO entries, in random order (sorted for "sorted")."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    if kind == "empty_rows":
        mask[rng.random(shape[0]) < 0.5] = False
    rows, cols = np.nonzero(mask)
    if kind == "duplicates" and rows.size:
        dup = rng.integers(0, rows.size, rows.size)  # some entries three times or more
        rows, cols = np.concatenate([rows, rows[dup]]), np.concatenate([cols, cols[dup]])
    if kind != "sorted":
        order = rng.permutation(rows.size)
        rows, cols = rows[order], cols[order]
    return rows.astype(np.int64), cols.astype(np.int64)


def check_canonical(rows, cols, shape, result, index_dtype):
    """indptr / indices equal scipy's canonical form; data summed by slot equals scipy's data."""
    indptr, indices, slot = result
    npi = np.int32 if index_dtype == mx.int32 else np.int64
    assert indptr.dtype == npi and indices.dtype == npi and slot.dtype == npi
    values = np.random.default_rng(1).uniform(-1, 1, rows.size)
    ref = sp.coo_array((values, (rows, cols)), shape=shape).tocsr()
    ref.sum_duplicates()
    ref.sort_indices()
    np.testing.assert_array_equal(indptr, ref.indptr)
    np.testing.assert_array_equal(indices, ref.indices)
    summed = np.zeros(indices.size)
    np.add.at(summed, slot, values)
    np.testing.assert_allclose(summed, ref.data, rtol=1e-13, atol=1e-14)


def check_sorted(rows, cols, shape, result, index_dtype):
    """A stable sort by (row, col): slot is the inverse of numpy's stable lexsort."""
    indptr, indices, slot = result
    order = np.lexsort((cols, rows))  # stable
    counts = np.bincount(rows, minlength=shape[0])
    np.testing.assert_array_equal(indptr, np.concatenate([[0], np.cumsum(counts)]))
    np.testing.assert_array_equal(indices, cols[order])
    np.testing.assert_array_equal(slot[order], np.arange(rows.size))


def check(rows, cols, shape, sum_duplicates, index_dtype):
    """The composed path against scipy / numpy, and equal to the host path."""
    result = composed(rows, cols, *shape, sum_duplicates, index_dtype)
    (check_canonical if sum_duplicates else check_sorted)(rows, cols, shape, result, index_dtype)
    for a, b in zip(result, host(rows, cols, *shape, sum_duplicates, index_dtype)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=INDEX_IDS)
@pytest.mark.parametrize("sum_duplicates", [True, False], ids=["sum", "sort"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{m}x{n}" for m, n in SHAPES])
def test_composed_matches_scipy_and_host(shape, kind, sum_duplicates, index_dtype):
    rows, cols = entries(shape, kind, seed=shape[0] * 131 + shape[1])
    check(rows, cols, shape, sum_duplicates, index_dtype)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=INDEX_IDS)
@pytest.mark.parametrize("sum_duplicates", [True, False])
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (7, 96)])
def test_composed_nnz0(shape, sum_duplicates, index_dtype):
    empty = np.zeros(0, np.int64)
    indptr, indices, slot = composed(empty, empty, *shape, sum_duplicates, index_dtype)
    np.testing.assert_array_equal(indptr, np.zeros(shape[0] + 1))
    assert indices.size == 0 and slot.size == 0
    assert indptr.dtype == (np.int32 if index_dtype == mx.int32 else np.int64)


@pytest.mark.parametrize("sum_duplicates", [True, False])
def test_composed_all_one_position(sum_duplicates):
    """Every entry at one (row, col): one column bucket holds them all."""
    rows, cols = np.full(300, 4, np.int64), np.full(300, 2, np.int64)
    check(rows, cols, (7, 11), sum_duplicates, mx.int32)


def test_composed_mixed_dtypes_promote_to_int64():
    r = mx.array([1, 0], dtype=mx.int32)
    c = mx.array([0, 1], dtype=mx.int64)
    for f, s in ((_ext._coo_tocsr_composed, STREAM), (_ext.coo_tocsr, mx.cpu)):
        out = f(r, c, 2, 2, True, stream=s)
        assert all(a.dtype == mx.int64 for a in out)


@pytest.mark.parametrize("sum_duplicates", [True, False])
@pytest.mark.parametrize(
    "rows, cols, shape, bad",
    [
        ([0, 2, 1], [0, 1, 1], (2, 3), "entry 1 at (2, 1)"),
        ([0, 1, 1], [0, 1, 3], (2, 3), "entry 2 at (1, 3)"),
        ([0, -1, 1], [0, 1, -2], (2, 3), "entry 1 at (-1, 1)"),
        ([1, 0], [0, 0], (0, 3), "entry 0 at (1, 0)"),
        ([1, 0], [0, 0], (2, 0), "entry 0 at (1, 0)"),
    ],
)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=INDEX_IDS)
def test_composed_out_of_range_raises_like_host(rows, cols, shape, bad, sum_duplicates, index_dtype):
    rows, cols = np.array(rows), np.array(cols)
    message = re.escape(f"[coo_tocsr] {bad} is out of range for shape {shape}.")
    for f in (composed, host):
        with pytest.raises(ValueError, match=message):
            f(rows, cols, *shape, sum_duplicates, index_dtype)


def test_composed_shape_errors():
    a = mx.array([0, 1], dtype=mx.int32)
    with pytest.raises(ValueError, match=r"\[coo_tocsr\] row and col must be 1-D"):
        _ext._coo_tocsr_composed(a, mx.array([0], dtype=mx.int32), 2, 2, True, stream=mx.cpu)
    with pytest.raises(ValueError, match=r"\[coo_tocsr\] the shape must be non-negative"):
        _ext._coo_tocsr_composed(a, a, -1, 2, True, stream=mx.cpu)


def test_stream_argument_reaches_the_methods():
    """sum_duplicates / sort_indices take stream= and give scipy's forms."""
    rows, cols = entries((11, 55), "duplicates", seed=3)
    values = np.random.default_rng(2).uniform(-1, 1, rows.size).astype(np.float32)
    order = np.argsort(rows, kind="stable")  # rows grouped, columns unsorted, duplicates
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=11))])
    A = ms.csr_array((values[order], cols[order], indptr), shape=(11, 55))
    S = ms.csr_array((values[order], cols[order], indptr), shape=(11, 55))
    assert S.sort_indices(stream=STREAM) is S and S.has_sorted_indices and S.nnz == rows.size
    np.testing.assert_array_equal(np.array(S.indices), cols[np.lexsort((cols, rows))])
    assert A.sum_duplicates(stream=STREAM) is A and A.has_canonical_format
    ref = sp.coo_array((values.astype(np.float64), (rows, cols)), shape=(11, 55)).tocsr()
    ref.sum_duplicates()
    np.testing.assert_array_equal(np.array(A.indptr), ref.indptr)
    np.testing.assert_array_equal(np.array(A.indices), ref.indices)
    np.testing.assert_allclose(np.array(A.data), ref.data, rtol=1e-5, atol=1e-6)


@settings(max_examples=int(os.environ.get("MLX_SPARSE_EXAMPLES", "30")), deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), nnz=st.integers(0, 60),
       seed=st.integers(0, 2**32 - 1), sum_duplicates=st.booleans(),
       index_dtype=st.sampled_from(INDEX_DTYPES))
def test_composed_equals_host_property(m, n, nnz, seed, sum_duplicates, index_dtype):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
    check(rows, cols, (m, n), sum_duplicates, index_dtype)
