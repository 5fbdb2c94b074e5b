"""spmm: sparse @ dense matrix (batched, broadcast, non-contiguous), against numpy float64."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import (SHAPES, VARIANTS, assert_close, index_dtypes, rand, random_case, to_mx,
                      value_dtypes, variants)

KS = [1, 16, 17, 64, 65, 130]


@variants
@value_dtypes
@index_dtypes
def test_spmm(variant, dtype, index_dtype):
    for i, shape in enumerate(SHAPES):
        case = random_case(shape, variant, seed=i)
        A = case.csr(dtype, index_dtype)
        B = rand((shape[1], 17), seed=i, dtype=dtype)
        Y = A @ to_mx(B, dtype)
        assert Y.shape == (shape[0], 17) and Y.dtype == dtype
        assert_close(Y, case.dense(dtype) @ B, dtype, scale=case.abs_dense(dtype) @ np.abs(B))


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [mx.float32, mx.float16], ids=["f32", "f16"])
def test_spmm_k(k, variant, dtype):
    case = random_case((37, 29), variant, seed=k)
    A = case.csr(dtype)
    B = rand((29, k), seed=k, dtype=dtype)
    Y = ms.spmm(A, to_mx(B, dtype))
    assert Y.shape == (37, k)
    assert_close(Y, case.dense(dtype) @ B, dtype, scale=case.abs_dense(dtype) @ np.abs(B))


@variants
@index_dtypes
def test_spmm_batched(variant, index_dtype):
    case = random_case((37, 29), variant, seed=11)
    A = case.csr(mx.float32, index_dtype)
    B = rand((2, 3, 29, 17), seed=11, dtype=mx.float32)
    Y = A @ to_mx(B)
    assert Y.shape == (2, 3, 37, 17)
    D = case.dense(mx.float32)
    assert_close(Y, D @ B, mx.float32, scale=case.abs_dense(mx.float32) @ np.abs(B))


def test_spmm_batched_broadcast_values():
    """_ext.csr_spmm: leading dims of data and B broadcast against each other."""
    case = random_case((7, 11), seed=12)
    A = case.csr(mx.float32)
    vals = rand((2, 1, A.nnz), seed=12, dtype=mx.float32)
    B = rand((1, 3, 11, 5), seed=13, dtype=mx.float32)
    Y = ms._ext.csr_spmm(A.indptr, A.indices, to_mx(vals), to_mx(B), 11)
    assert Y.shape == (2, 3, 7, 5)
    ref = np.zeros((2, 3, 7, 5))
    for a in range(2):
        D = sp.csr_array((vals[a, 0], case.indices, case.indptr), shape=(7, 11)).toarray()
        for b in range(3):
            ref[a, b] = D @ B[0, b]
    assert_close(Y, ref, mx.float32)
    # unbatched B against batched values
    Y2 = ms._ext.csr_spmm(A.indptr, A.indices, to_mx(vals), to_mx(B[0, 1]), 11)
    assert Y2.shape == (2, 1, 7, 5)
    assert_close(Y2, ref[:, 1:2], mx.float32)


def test_spmm_transpose_flag():
    """_ext.csr_spmm(..., transpose=True) is A^T @ B."""
    case = random_case((37, 29), "duplicates", seed=14)
    A = case.csr(mx.float32)
    B = rand((37, 9), seed=14, dtype=mx.float32)
    Y = ms._ext.csr_spmm(A.indptr, A.indices, A.data, to_mx(B), 29, True)
    assert Y.shape == (29, 9)
    assert_close(Y, case.dense(mx.float32).T @ B, mx.float32)


@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates"])
def test_spmm_non_contiguous(variant):
    case = random_case((37, 29), variant, seed=15)
    A = case.csr(mx.float32)
    D = case.dense(mx.float32)
    base = rand((65, 29), seed=15, dtype=mx.float32)
    Bm = to_mx(base)
    assert_close(A @ Bm.T, D @ base.T, mx.float32)  # transposed view
    big = rand((58, 40), seed=16, dtype=mx.float32)
    bm = to_mx(big)
    assert_close(A @ bm[::2, 3:20], D @ big[::2, 3:20], mx.float32)  # strided slices
    assert_close(A @ bm[1::2, ::3], D @ big[1::2, ::3], mx.float32)
    assert_close(A @ bm[:29, -1:], D @ big[:29, -1:], mx.float32)
    row = rand((1, 17), seed=17, dtype=mx.float32)
    assert_close(A @ mx.broadcast_to(to_mx(row), (29, 17)), D @ np.broadcast_to(row, (29, 17)),
                 mx.float32)
    batched = rand((29, 3, 17), seed=18, dtype=mx.float32)
    assert_close(A @ mx.transpose(to_mx(batched), (1, 0, 2)), D @ batched.transpose(1, 0, 2),
                 mx.float32)


def test_spmm_lazy_operand():
    case = random_case((7, 11), seed=19)
    A = case.csr(mx.float32)
    B = rand((11, 5), seed=19, dtype=mx.float32)
    Bm = mx.exp(mx.log(mx.abs(to_mx(B)) + 1.0)) - 1.0  # unevaluated graph
    assert_close(A @ Bm, case.dense() @ np.abs(B), mx.float32)


def test_spmm_numpy_float64_operand():
    S = sp.random(7, 11, density=0.4, format="csr", random_state=0)
    A = ms.csr_array(S)
    B = np.random.default_rng(0).standard_normal((11, 4))
    Y = A @ B
    assert Y.dtype == mx.float64
    assert_close(Y, S @ B, mx.float64)


@pytest.mark.parametrize("shape,k", [((0, 5), 3), ((5, 0), 3), ((0, 0), 4), ((5, 7), 0)])
def test_spmm_degenerate(shape, k):
    A = ms.csr_array(shape)
    Y = A @ mx.ones((shape[1], k))
    assert Y.shape == (shape[0], k)
    np.testing.assert_array_equal(np.array(Y), np.zeros((shape[0], k)))


def test_spmm_k0_with_entries():
    case = random_case((7, 11), seed=20)
    Y = case.csr() @ mx.zeros((11, 0))
    assert Y.shape == (7, 0)


@index_dtypes
def test_spmm_medium(index_dtype):
    S = sp.random(1000, 700, density=0.01, format="csr", dtype=np.float64, random_state=21)
    B = np.random.default_rng(21).standard_normal((700, 65))
    A = ms.csr_array(S, dtype=mx.float32, index_dtype=index_dtype)
    S32 = S.astype(np.float32).astype(np.float64)
    B32 = B.astype(np.float32).astype(np.float64)
    assert_close(A @ mx.array(B.astype(np.float32)), S32 @ B32, mx.float32, scale=abs(S32) @ np.abs(B32))


def test_spmm_cora_gcn_propagation(planetoid_dir):
    """The GCN propagation D^-1/2 (A + I) D^-1/2 @ H on the Cora citation graph."""
    import pickle

    with open(planetoid_dir / "ind.cora.graph", "rb") as f:
        graph = pickle.load(f, encoding="latin1")
    rows = np.concatenate([np.full(len(v), k) for k, v in graph.items()]).astype(np.int64)
    cols = np.concatenate([np.asarray(v, dtype=np.int64) for v in graph.values()])
    n = 2708
    rows, cols = np.concatenate([rows, cols, np.arange(n)]), np.concatenate([cols, rows, np.arange(n)])
    S = sp.coo_array((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
    S.data[:] = 1.0  # symmetrised, deduplicated, self loops
    d = np.asarray(S.sum(axis=1)).ravel() ** -0.5
    S = sp.diags(d) @ S @ sp.diags(d)
    A = ms.csr_array(sp.csr_array(S), dtype=mx.float32)
    H = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32)
    S32 = sp.csr_array(S).astype(np.float32).astype(np.float64)
    assert_close(A @ mx.array(H), S32 @ H.astype(np.float64), mx.float32, scale=abs(S32) @ np.abs(H))
    # the same adjacency built from the raw (duplicated) edge list sums the duplicates
    B = ms.csr_array((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n))
    R = sp.coo_array((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
    assert B.nnz == R.nnz and B.has_canonical_format
    np.testing.assert_array_equal(np.array(B.indptr), R.indptr)
    assert_close(B @ mx.array(H), R @ H.astype(np.float64), mx.float32, scale=R @ np.abs(H))


@pytest.mark.parametrize("k", [40, 64, 100])
def test_transposed_gather_long_and_short_rows(k):
    """A^T @ B gathered over A^T's cached structure, with column tiles past the first: rows
    of A^T up to kRowValues entries gather their values once, a dense column of A (a row of
    600 entries in A^T) reads them through perm; batched values too."""
    rng = np.random.default_rng(k)
    S = sp.random(600, 300, density=0.02, format="lil", dtype=np.float64, random_state=rng)
    S[:, 7] = rng.standard_normal((600, 1))
    S = S.tocsr()
    A = ms.csr_array(S, dtype=mx.float32)
    B = rng.standard_normal((600, k))
    for _ in range(2):  # the second product on caches A^T's structure
        assert_close(A.T @ to_mx(B.astype(np.float32)), S.T @ B, mx.float32)
    vals = np.stack([S.data, 2 * S.data]).astype(np.float32)
    Y = ms._ext.csr_spmm(A.indptr, A.indices, to_mx(vals), to_mx(B.astype(np.float32)), 300,
                         True, A._transposed())
    assert_close(Y, np.stack([S.T @ B, 2 * (S.T @ B)]), mx.float32)
