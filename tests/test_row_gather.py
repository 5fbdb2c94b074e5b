"""csr_row_gather (A[rows], every column): its host structure and its values' primitive
against scipy and against a take of the values, with the transforms."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse import _ext
from conftest import assert_close, index_dtypes, random_case, variants


def _rows(m, seed, k=40):
    return np.random.default_rng(seed).integers(0, m, k)  # repeats included


@variants
@index_dtypes
def test_structure_and_values_match_scipy(variant, index_dtype):
    case = random_case((37, 23), variant, seed=3)
    A = case.csr(mx.float32, index_dtype)
    rows = _rows(37, 4)
    B = A[rows]
    R = case.scipy()[rows]
    assert B.index_dtype == index_dtype and B.shape == (40, 23)
    np.testing.assert_array_equal(np.array(B.indptr), R.indptr)
    np.testing.assert_array_equal(np.array(B.indices), R.indices)
    assert_close(B.data, R.data)


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16, mx.float64])
def test_dtypes(dtype):
    if dtype == mx.float64 and mx.default_device() != mx.cpu:
        pytest.skip("MLX has no float64 on the GPU")
    S = sp.random_array((30, 30), density=0.3, format="csr", rng=np.random.default_rng(5))
    A = ms.csr_array(S, dtype=dtype)
    rows = _rows(30, 6)
    assert A[rows].dtype == dtype
    assert_close(A[rows].toarray(), A.toarray()[rows], dtype)


def test_transforms_against_a_take():
    """grad (rows repeat: the cotangent adds up), jvp, vmap and a batch of values."""
    S = sp.random_array((25, 18), density=0.3, format="csr", rng=np.random.default_rng(7))
    A = ms.csr_array(S, dtype=mx.float32)
    rows = mx.array(_rows(25, 8).astype(np.int32))
    ip, ix = _ext.csr_row_gather_structure(A.indptr, A.indices, rows)
    starts = np.array(A.indptr)[np.array(rows)]
    lengths = np.diff(np.array(ip))
    pos = mx.array(np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)]))
    w = mx.arange(ix.size, dtype=mx.float32)

    def ours(v):
        return _ext.csr_row_gather(A.indptr, v, rows, ip)

    def take(v):
        return mx.take(v, pos, axis=-1)

    v = A.data
    assert_close(ours(v), take(v))
    assert_close(mx.grad(lambda v: mx.sum(w * ours(v)))(v),
                 mx.grad(lambda v: mx.sum(w * take(v)))(v))
    assert_close(mx.jvp(ours, (v,), (2 * v,))[1][0], take(2 * v))
    batch = mx.stack([v, -v, 3 * v])
    assert_close(mx.vmap(ours)(batch), take(batch))
    assert_close(ours(batch), take(batch))
    assert_close(mx.grad(lambda b: mx.sum(ours(b) ** 2))(batch),
                 mx.grad(lambda b: mx.sum(take(b) ** 2))(batch))


def test_empty_results_and_bad_rows():
    S = sp.csr_array(np.array([[0, 1.0], [0, 0], [2.0, 0]], np.float32))
    A = ms.csr_array(S)
    B = A[np.array([1, 1])]
    assert B.nnz == 0 and B.shape == (2, 2)
    g = mx.grad(lambda v: mx.sum(A.with_data(v)[np.array([1])].todense()))(A.data)
    assert_close(g, np.zeros(2))
    with pytest.raises(ValueError, match=r"\[csr_row_gather\] row 3 is out of range"):
        _ext.csr_row_gather_structure(A.indptr, A.indices, mx.array([0, 3]))
    with pytest.raises(ValueError, match=r"\[csr_row_gather\] new_indptr"):
        _ext.csr_row_gather(A.indptr, A.data, mx.array([0, 1]), A.indptr)
