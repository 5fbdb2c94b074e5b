"""sddmm: X @ Y.T sampled at a sparse pattern, against numpy float64."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import (SHAPES, assert_close, index_dtypes, rand, random_case, to_mx, value_dtypes,
                      variants)


def sampled(case, X, Y):
    """(X @ Y.T)[row(e), col(e)] for each stored entry e, and its magnitude scale."""
    full = X @ Y.T
    scale = np.abs(X) @ np.abs(Y).T
    return full[case.rows, case.indices], scale[case.rows, case.indices]


@variants
@value_dtypes
@index_dtypes
def test_sddmm(variant, dtype, index_dtype):
    for i, (m, n) in enumerate(SHAPES):
        case = random_case((m, n), variant, seed=i)
        A = case.csr(dtype, index_dtype)
        X, Y = rand((m, 17), seed=i, dtype=dtype), rand((n, 17), seed=i + 50, dtype=dtype)
        C = ms.sddmm(A, to_mx(X, dtype), to_mx(Y, dtype))
        assert isinstance(C, ms.CSRArray)
        assert C.shape == (m, n) and C.nnz == case.nnz and C.dtype == dtype
        np.testing.assert_array_equal(np.array(C.indices), case.indices)
        np.testing.assert_array_equal(np.array(C.indptr), case.indptr)
        ref, scale = sampled(case, X, Y)
        assert_close(C.data, ref, dtype, scale=scale)


@pytest.mark.parametrize("k", [1, 16, 17, 64, 65, 130])
@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates", "one_long_row"])
def test_sddmm_k(k, variant):
    case = random_case((37, 29), variant, seed=k)
    A = case.csr(mx.float32)
    X, Y = rand((37, k), seed=k, dtype=mx.float32), rand((29, k), seed=k + 1, dtype=mx.float32)
    C = ms.sddmm(A, to_mx(X), to_mx(Y))
    ref, scale = sampled(case, X, Y)
    assert_close(C.data, ref, mx.float32, scale=scale)
    # the dense form sums duplicates of the sampled product
    dense = np.zeros((37, 29))
    np.add.at(dense, (case.rows, case.indices), ref)
    assert_close(C.todense(), dense, mx.float32, scale=np.abs(dense).max() + scale.max())


def test_sddmm_scaled_by_values():
    case = random_case((37, 29), "duplicates", seed=3)
    A = case.csr(mx.float64)
    X, Y = rand((37, 8), seed=3), rand((29, 8), seed=4)
    C = ms.sddmm(A, to_mx(X, mx.float64), to_mx(Y, mx.float64))
    ref, _ = sampled(case, X, Y)
    assert_close(C.data * A.data, ref * case.data, mx.float64)


def test_sddmm_non_contiguous():
    case = random_case((37, 29), "unsorted", seed=5)
    A = case.csr(mx.float32)
    Xt, Y = rand((17, 37), seed=5, dtype=mx.float32), rand((29, 51), seed=6, dtype=mx.float32)
    C = ms.sddmm(A, to_mx(Xt).T, to_mx(Y)[:, ::3])
    ref, scale = sampled(case, Xt.T, Y[:, ::3])
    assert_close(C.data, ref, mx.float32, scale=scale)


def test_sddmm_batched_ext():
    """_ext.csr_sddmm broadcasts leading dims of G and B."""
    case = random_case((7, 11), "duplicates", seed=7)
    A = case.csr(mx.float32)
    G = rand((2, 3, 7, 5), seed=7, dtype=mx.float32)
    B = rand((3, 11, 5), seed=8, dtype=mx.float32)
    out = ms._ext.csr_sddmm(A.indptr, A.indices, to_mx(G), to_mx(B))
    assert out.shape == (2, 3, A.nnz)
    for a in range(2):
        for b in range(3):
            ref, scale = sampled(case, G[a, b], B[b])
            assert_close(out[a, b], ref, mx.float32, scale=scale)


def test_sddmm_dtype_promotion():
    case = random_case((7, 11), seed=9)
    A = case.csr(mx.float16)
    X, Y = rand((7, 4), seed=9, dtype=mx.float16), rand((11, 4), seed=10, dtype=mx.float32)
    C = ms.sddmm(A, to_mx(X, mx.float16), to_mx(Y, mx.float32))
    assert C.dtype == mx.float32
    ref, scale = sampled(case, X, Y)
    assert_close(C.data, ref, mx.float32, scale=scale)


@pytest.mark.parametrize("k", [0, 3])
def test_sddmm_degenerate(k):
    case = random_case((7, 11), seed=11)
    C = ms.sddmm(case.csr(), mx.ones((7, k)), mx.ones((11, k)))
    np.testing.assert_array_equal(np.array(C.data), np.full(case.nnz, float(k)))
    E = ms.sddmm(ms.csr_array((0, 4)), mx.ones((0, 3)), mx.ones((4, 3)))
    assert E.nnz == 0 and E.shape == (0, 4)


def test_sddmm_medium():
    case = random_case((600, 500), "canonical", density=0.01, seed=12)
    A = case.csr(mx.float32)
    X, Y = rand((600, 64), seed=12, dtype=mx.float32), rand((500, 64), seed=13, dtype=mx.float32)
    C = ms.sddmm(A, to_mx(X), to_mx(Y))
    ref, scale = sampled(case, X, Y)
    assert_close(C.data, ref, mx.float32, scale=scale)
