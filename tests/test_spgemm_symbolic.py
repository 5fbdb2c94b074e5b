"""spgemm's symbolic phase: C's canonical pattern, against scipy's structural product.

csr_spgemm_symbolic runs on the default stream (the host path on the CPU; the hash-table
steps when MLX_SPARSE_TEST_DEVICE=gpu); the steps (workspace, count, fill) also run on
mx.cpu directly. Rows whose output bound exceeds the shared-memory table (512 columns) use
the global workspace on the GPU: the long-row cases cover that path."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import VARIANTS, index_dtypes, random_case

E = ms._ext

SHARED_SLOTS, MIN_SLOTS = 1024, 32  # gpu/core/spgemm.h

# (m, k, n, density of A, density of B)
SHAPES = [
    (7, 96, 55, 0.3, 0.3),
    (37, 29, 31, 0.3, 0.3),
    (1, 1, 1, 1.0, 1.0),
    (9, 1, 9, 0.5, 0.5),
    (0, 5, 7, 0.3, 0.3),
    (5, 0, 7, 0.3, 0.3),
    (5, 7, 0, 0.3, 0.3),
    (60, 400, 20, 0.5, 0.5),  # large bounds, narrow output: shared tables throughout
]


def long_rows_case():
    """Rows of every kind of accumulator. C has 100,000 columns, so its bitmap (3,136 words)
    needs the workspace. B's rows 0-9 have 100 entries (a whole warp strides them), the
    others 3 (one lane each). Rows of A: 1 (full, bound ~1,870) and 2 (200 entries, ~1,570)
    would need hash tables no smaller than the bitmap, so they are dense; 4 (100 entries,
    ~700) and 5 (290 entries, ~870) get global hash tables of 2,048 slots; 0 and 3 shared
    tables. Rows 1 and 5 have at least 256 entries: on the GPU many warps fill them."""
    rng = np.random.default_rng(7)
    a = (rng.random((6, 300)) < 0.02).astype(np.float64)
    a[1] = 1.0
    a[2, :200] = 1.0
    a[4, ::3] = 1.0
    a[5, 10:] = 1.0
    a[0, 3] = 1.0
    lengths = np.where(np.arange(300) < 10, 100, 3)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    b = sp.csr_array((rng.random(indptr[-1]), rng.integers(0, 100_000, indptr[-1]), indptr),
                     shape=(300, 100_000))
    b.sum_duplicates()
    return sp.csr_array(a), b


def structure(case_or_csr, index_dtype):
    c = case_or_csr
    return (mx.array(np.asarray(c.indptr, np.int64)).astype(index_dtype),
            mx.array(np.asarray(c.indices, np.int64)).astype(index_dtype))


def expected_pattern(a, b):
    """scipy's structural product (ones, so nothing cancels), canonical."""
    ones = lambda x: sp.csr_array((np.ones(len(x.indices)), x.indices, x.indptr), shape=x.shape)
    P = sp.csr_array(ones(a) @ ones(b))
    P.sum_duplicates()
    P.sort_indices()
    return P.indptr, P.indices


def check_pattern(indptr, indices, a, b, index_dtype):
    ip, ix = expected_pattern(a, b)
    assert indptr.dtype == index_dtype and indices.dtype == index_dtype
    np.testing.assert_array_equal(np.array(indptr), ip)
    np.testing.assert_array_equal(np.array(indices), ix)


def steps(a, b, index_dtype, stream):
    ap, ai = structure(a, index_dtype)
    bp, bi = structure(b, index_dtype)
    n = b.shape[1]
    w = E.csr_spgemm_workspace(ap, ai, bp, bi, n, stream=stream)
    slots = int(w[-1].item())
    c = E.csr_spgemm_count(ap, ai, bp, bi, w, slots, n, stream=stream)
    nnz = int(c[-1].item())
    return w, c, E.csr_spgemm_fill(ap, ai, bp, bi, w, slots, c, nnz, n, stream=stream)


def cases():
    for i, (m, k, n, da, db) in enumerate(SHAPES):
        for variant in VARIANTS:
            yield random_case((m, k), variant, density=da, seed=i), \
                random_case((k, n), "canonical", density=db, seed=i + 50)
    yield long_rows_case()


@index_dtypes
def test_symbolic_default_stream(index_dtype):
    for a, b in cases():
        ap, ai = structure(a, index_dtype)
        bp, bi = structure(b, index_dtype)
        indptr, indices = E.csr_spgemm_symbolic(ap, ai, bp, bi, b.shape[1])
        check_pattern(indptr, indices, a, b, index_dtype)


@pytest.mark.parametrize("stream", ["cpu", "default"])
@index_dtypes
def test_symbolic_steps(stream, index_dtype):
    s = mx.cpu if stream == "cpu" else None
    for a, b in cases():
        w, c, indices = steps(a, b, index_dtype, s)
        assert w.dtype == mx.int64 and c.dtype == mx.int64
        check_pattern(c.astype(index_dtype), indices, a, b, index_dtype)


def test_symbolic_duplicates_in_both_operands():
    a = random_case((23, 17), "duplicates", seed=3)
    b = random_case((17, 41), "duplicates", seed=4)
    for s in (mx.cpu, None):
        _, c, indices = steps(a, b, mx.int32, s)
        check_pattern(c.astype(mx.int32), indices, a, b, mx.int32)


@index_dtypes
def test_workspace_layout(index_dtype):
    """A row's accumulator is a bitmap of C's columns (whole rounds of 32 words) when a hash
    table (a power of two >= 2 * min(bound, n) slots) would be no smaller, else the table;
    it has workspace words when larger than the shared accumulator, none otherwise."""
    a, b = long_rows_case()
    w, _, _ = steps(a, b, index_dtype, mx.cpu)
    ub = np.array([np.diff(b.indptr)[a.indices[a.indptr[i]:a.indptr[i + 1]]].sum()
                   for i in range(a.shape[0])])
    bound = np.minimum(ub, b.shape[1])
    slots = np.maximum(MIN_SLOTS, 2 ** np.ceil(np.log2(np.maximum(2 * bound, 1)))).astype(np.int64)
    bitmap = -(-b.shape[1] // (32 * 32)) * 32
    words = np.where(bitmap <= slots, bitmap, slots)
    own = np.where(words > SHARED_SLOTS, words, 0)
    np.testing.assert_array_equal(np.array(w), np.concatenate([[0], np.cumsum(own)]))
    assert own[1] == own[2] == bitmap == 3136  # dense rows in the workspace
    assert own[4] == own[5] == 2048  # hash tables in the workspace
    assert not own[[0, 3]].any()  # shared tables


@index_dtypes
def test_spgemm_long_rows(index_dtype):
    """The whole product (symbolic + numeric) with rows beyond the shared tables."""
    a, b = long_rows_case()
    A = ms.csr_array(a.astype(np.float32), index_dtype=index_dtype)
    B = ms.csr_array(b.astype(np.float32), index_dtype=index_dtype)
    C = A @ B
    ip, ix = expected_pattern(a, b)
    np.testing.assert_array_equal(np.array(C.indptr), ip)
    np.testing.assert_array_equal(np.array(C.indices), ix)
    ref = sp.csr_array(a @ b)
    ref.sort_indices()
    np.testing.assert_allclose(np.array(C.data), ref.data, rtol=1e-5)


def test_steps_reject_bad_arguments():
    ip, ix = mx.array([0, 1, 2]), mx.array([0, 1])
    w = E.csr_spgemm_workspace(ip, ix, ip, ix, 2, stream=mx.cpu)
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] the workspace offsets .* int64 arrays of m \+ 1 = 3"):
        E.csr_spgemm_count(ip, ix, ip, ix, w.astype(mx.int32), 0, 2, stream=mx.cpu)
    with pytest.raises(OverflowError, match=r"\[csr_spgemm\] the workspace needs -1 hash slots"):
        E.csr_spgemm_count(ip, ix, ip, ix, w, -1, 2, stream=mx.cpu)
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] A and B must share one index dtype"):
        E.csr_spgemm_workspace(ip, ix, ip.astype(mx.int64), ix.astype(mx.int64), 2, stream=mx.cpu)
    c = E.csr_spgemm_count(ip, ix, ip, ix, w, 0, 2, stream=mx.cpu)
    message = r"\[csr_spgemm\] the result would have 3000000000 stored entries: MLX shapes are 32-bit"
    with pytest.raises(OverflowError, match=message):
        E.csr_spgemm_fill(ip, ix, ip, ix, w, 0, c, 3_000_000_000, 2, stream=mx.cpu)


@pytest.mark.skipif(not mx.is_available(mx.gpu), reason="needs a GPU stream")
def test_gpu_symbolic_needs_32_bit_columns():
    ip, ix = mx.array([0, 1], mx.int64), mx.array([0], mx.int64)
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] the GPU symbolic phase hashes columns in 32 bits"):
        E.csr_spgemm_symbolic(ip, ix, ip, ix, 2**31, stream=mx.gpu)
