"""spgemm: sparse @ sparse, against scipy / numpy float64."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import (VARIANTS, assert_close, index_dtypes, random_case, rows_canonical,
                      value_dtypes)


def check_product(C, a, b, dtype, a_dtype=None, b_dtype=None, rtol=None):
    """C == a @ b (Cases), canonical, with the structural pattern of the product."""
    a_dtype, b_dtype = a_dtype or dtype, b_dtype or dtype
    m, n = a.shape[0], b.shape[1]
    assert isinstance(C, ms.CSRArray)
    assert C.shape == (m, n) and C.dtype == dtype
    assert C.has_canonical_format and C.has_sorted_indices
    assert rows_canonical(C.indptr, C.indices)
    P = (a.pattern() @ b.pattern()).tocsr()  # structural pattern: all positive, no cancellation
    P.sort_indices()
    np.testing.assert_array_equal(np.array(C.indptr), P.indptr)
    np.testing.assert_array_equal(np.array(C.indices), P.indices)
    ref = a.dense(a_dtype) @ b.dense(b_dtype)
    scale = a.abs_dense(a_dtype) @ b.abs_dense(b_dtype)
    assert_close(C.todense(), ref, dtype, scale=scale, rtol=rtol)


@pytest.mark.parametrize("variant", VARIANTS)
@value_dtypes
@index_dtypes
def test_spgemm(variant, dtype, index_dtype):
    for i, (m, k, n) in enumerate([(7, 11, 5), (37, 29, 31), (1, 1, 1), (9, 1, 9), (1, 13, 1)]):
        a = random_case((m, k), variant, seed=i)
        b = random_case((k, n), "canonical", seed=i + 100)
        A, B = a.csr(dtype, index_dtype), b.csr(dtype, index_dtype)
        check_product(A @ B, a, b, dtype)


@pytest.mark.parametrize("va", VARIANTS)
@pytest.mark.parametrize("vb", VARIANTS)
def test_spgemm_variant_pairs(va, vb):
    a = random_case((37, 29), va, seed=1)
    b = random_case((29, 23), vb, seed=2)
    A, B = a.csr(mx.float64), b.csr(mx.float64)
    C = ms.spgemm(A, B)
    check_product(C, a, b, mx.float64)
    # the operands are left as they were
    np.testing.assert_array_equal(np.array(A.indices), a.indices)
    np.testing.assert_array_equal(np.array(B.indices), b.indices)


@pytest.mark.parametrize("da,db", [(0.05, 0.05), (0.5, 0.02), (0.02, 0.5), (0.9, 0.9)])
def test_spgemm_densities(da, db):
    a = random_case((41, 33), "canonical", density=da, seed=3)
    b = random_case((33, 47), "canonical", density=db, seed=4)
    check_product(ms.matmul(a.csr(mx.float32), b.csr(mx.float32)), a, b, mx.float32)


def test_spgemm_square_self_product():
    a = random_case((37, 37), "unsorted", seed=5)
    A = a.csr(mx.float64)
    check_product(A @ A, a, a, mx.float64)


def test_spgemm_pattern_reused_for_new_values():
    """A loop over new values of the same patterns runs the symbolic phase once (A keeps the
    last product's pattern, keyed by B's pattern); another B, or a changed A, recomputes."""
    a = random_case((37, 29), "canonical", seed=8)
    b = random_case((29, 23), "canonical", seed=9)
    A, B = a.csr(mx.float32), b.csr(mx.float32)
    C1 = A @ B
    for k in (2.0, -0.5):
        Av, Bv = A.with_data(A.data * k), B.with_data(B.data + 1.0)
        C = Av @ Bv
        assert C.indices is C1.indices and C.indptr is C1.indptr
        a2 = sp.csr_array((np.asarray(a.data) * k, a.indices, a.indptr), shape=a.shape)
        b2 = sp.csr_array((np.asarray(b.data) + 1.0, b.indices, b.indptr), shape=b.shape)
        assert_close(C.todense(), (a2 @ b2).toarray(), mx.float32,
                     scale=np.abs(a2).toarray() @ np.abs(b2).toarray())
    other = random_case((29, 23), "canonical", seed=10)
    C2 = A @ other.csr(mx.float32)
    check_product(C2, a, other, mx.float32)
    assert C2.indices is not C1.indices
    check_product(A @ B, a, b, mx.float32)  # the last pattern was B2's: recomputed
    A.eliminate_zeros()  # no zeros here: the pattern, and its cache, stay
    d = random_case((37, 29), "explicit_zeros", seed=11)
    D = d.csr(mx.float32)
    D @ B
    D.eliminate_zeros()  # a new pattern: a new cache
    kept = sp.csr_array((d.data, d.indices, d.indptr), shape=d.shape)
    kept.eliminate_zeros()
    ref = kept.toarray() @ b.dense()
    assert_close((D @ B).todense(), ref, mx.float32, scale=np.abs(kept).toarray() @ b.abs_dense())


def test_non_canonical_operand_summed_once_per_pattern():
    """A non-canonical operand's canonical structure is found once: later products with new
    values reuse it, and so the product's pattern too."""
    a = random_case((37, 29), "duplicates", seed=12)
    b = random_case((29, 23), "canonical", seed=13)
    A, B = a.csr(mx.float32), b.csr(mx.float32)
    C1 = A @ B
    check_product(C1, a, b, mx.float32)
    A2 = A.with_data(A.data * 3.0)
    C2 = A2 @ B
    assert C2.indices is C1.indices
    assert_close(C2.todense(), 3 * (a.dense() @ b.dense()), mx.float32,
                 scale=3 * a.abs_dense() @ b.abs_dense())
    assert_close(A2.multiply(A).todense(), 3 * a.dense() ** 2, mx.float32,
                 scale=3 * a.abs_dense() ** 2)
    np.testing.assert_array_equal(np.array(A.indices), a.indices)  # A itself unchanged


def test_spgemm_mixed_index_and_value_dtypes():
    a = random_case((7, 11), "duplicates", seed=6)
    b = random_case((11, 5), "canonical", seed=7)
    A, B = a.csr(mx.float16, mx.int32), b.csr(mx.float32, mx.int64)
    C = A @ B
    assert C.index_dtype == mx.int64
    # A's duplicates are summed in float16 before the float32 product
    check_product(C, a, b, mx.float32, a_dtype=mx.float16, b_dtype=mx.float32, rtol=2e-2)


def test_spgemm_empty_results():
    # A only uses column 0, B's row 0 is empty: no products meet
    A = ms.csr_array(np.array([[1.0, 0, 0], [2.0, 0, 0]]))
    B = ms.csr_array(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]))
    C = A @ B
    assert C.shape == (2, 2) and C.nnz == 0
    np.testing.assert_array_equal(np.array(C.indptr), [0, 0, 0])
    np.testing.assert_array_equal(C.toarray(), np.zeros((2, 2)))


@pytest.mark.parametrize("m,k,n", [(0, 4, 3), (4, 0, 3), (4, 3, 0), (0, 0, 0)])
def test_spgemm_degenerate_shapes(m, k, n):
    a = random_case((m, k), seed=8)
    b = random_case((k, n), seed=9)
    C = a.csr() @ b.csr()
    assert C.shape == (m, n) and C.nnz == 0
    np.testing.assert_array_equal(C.toarray(), np.zeros((m, n)))


def test_spgemm_nnz0_operand():
    a = random_case((7, 11), seed=10)
    C = a.csr() @ ms.csr_array((11, 5))
    assert C.nnz == 0 and C.shape == (7, 5)
    np.testing.assert_array_equal(np.array(C.indptr), np.zeros(8))


def test_spgemm_cancellation_keeps_structural_entry():
    A = ms.csr_array(np.array([[1.0, 1.0]]))
    B = ms.csr_array(np.array([[1.0], [-1.0]]))
    C = A @ B
    assert C.nnz == 1  # structural entry whose value cancels to 0
    np.testing.assert_array_equal(C.toarray(), [[0.0]])


def test_spgemm_against_scipy_medium():
    S = sp.random(300, 250, density=0.02, format="csr", random_state=11)
    T = sp.random(250, 280, density=0.02, format="csr", random_state=12)
    C = ms.csr_array(S) @ ms.csr_array(T)
    R = (S @ T).tocsr()
    R.sort_indices()
    assert C.has_canonical_format
    Cs = C.toscipy()
    assert_close(Cs.toarray(), R.toarray(), mx.float64, scale=(abs(S) @ abs(T)).toarray())
    assert C.nnz >= R.nnz  # scipy may drop exact zeros; we keep structural entries


def test_spgemm_shape_mismatch():
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] dimension mismatch.*n=4.*n=5"):
        ms.csr_array((3, 4)) @ ms.csr_array((5, 2))
