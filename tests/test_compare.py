"""Comparisons, maximum / minimum and division of every format against scipy.sparse: sparse
bool where scipy's result is sparse, dense where it is dense; gradients of maximum."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import RTOL, assert_close, formats, in_format, random_case, to_mx, to_np, variants

import mlx_sparse as ms

F64 = mx.float64
OPS = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "gt": "__gt__", "le": "__le__", "ge": "__ge__"}
pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")


def pair(variant, fmt, seed=0):
    a = random_case((13, 11), variant, seed=seed)
    b = random_case((13, 11), "unsorted", seed=seed + 1)
    b.data = np.where(np.arange(b.nnz) % 3 == 0, 0.5, b.data)  # some ties with A below
    a.data = np.where(np.arange(a.nnz) % 4 == 0, 0.5, a.data)
    return in_format(a, fmt), in_format(b, fmt), a.scipy(), b.scipy()


def dense_of(x):
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


@formats
@variants
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scalar", [0.5, 0.0, -0.5])
def test_scalar_comparisons_as_scipy(fmt, variant, op, scalar):
    A, _, S, _ = pair(variant, fmt)
    got, want = getattr(A, OPS[op])(scalar), getattr(S, OPS[op])(scalar)
    assert isinstance(got, ms.SparseArray) and got.dtype == mx.bool_
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    assert got.nnz == want.nnz  # only True entries are stored, as scipy's


@formats
@variants
@pytest.mark.parametrize("op", OPS)
def test_sparse_and_dense_comparisons_as_scipy(fmt, variant, op):
    A, B, S, R = pair(variant, fmt, seed=2)
    got, want = getattr(A, OPS[op])(B), getattr(S, OPS[op])(R)
    assert isinstance(got, ms.SparseArray) and got.dtype == mx.bool_
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    D = R.toarray()
    got, want = getattr(A, OPS[op])(to_mx(D, F64)), getattr(S, OPS[op])(D)
    assert isinstance(got, mx.array) and got.dtype == mx.bool_  # scipy: a dense ndarray
    np.testing.assert_array_equal(np.array(got), want)
    np.testing.assert_array_equal(np.array(getattr(A, OPS[op])(D[0])), getattr(S, OPS[op])(D[0]))


def test_mask_by_comparison():
    A = random_case((13, 11), "duplicates", seed=3).csr(F64)
    S = A.toscipy()
    np.testing.assert_allclose(A.multiply(A > 0.2).toarray(), S.multiply(S > 0.2).toarray(), rtol=1e-14)
    assert (A > 0.2).astype(mx.float32).dtype == mx.float32


@formats
@variants
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_as_scipy(fmt, variant, op):
    A, B, S, R = pair(variant, fmt, seed=4)
    got = getattr(A, op)(B)
    assert isinstance(got, ms.CSRArray)
    np.testing.assert_allclose(got.toarray(), getattr(S, op)(R).toarray(), rtol=1e-14)
    for s in (0.3, 0.0, -0.3):
        got = getattr(A, op)(s)
        assert isinstance(got, ms.SparseArray)
        np.testing.assert_allclose(got.toarray(), getattr(S, op)(s).toarray(), rtol=1e-14)
    D = R.toarray()
    got = getattr(A, op)(to_mx(D, F64))
    assert isinstance(got, mx.array)
    np.testing.assert_allclose(np.array(got), dense_of(getattr(S, op)(D)), rtol=1e-14)


def test_scalar_keeps_format():
    A = random_case((13, 11), "canonical", seed=5).csr(F64).tocsc()
    assert isinstance(A.maximum(-1.0), ms.CSCArray) and isinstance(A.minimum(1.0), ms.CSCArray)


@formats
@variants
def test_division_as_scipy(fmt, variant):
    A, B, S, R = pair(variant, fmt, seed=6)
    with np.errstate(divide="ignore", invalid="ignore"):
        want_sparse, want_dense = S / R, S / (R.toarray() + 2.0)
    got = A / B
    assert isinstance(got, mx.array)  # scipy: dense, nan at 0 / 0
    np.testing.assert_allclose(np.array(got), dense_of(want_sparse), rtol=1e-14, equal_nan=True)
    got = A / to_mx(R.toarray() + 2.0, F64)
    assert isinstance(got, ms.COOArray)  # scipy: a coo_array
    np.testing.assert_allclose(got.toarray(), dense_of(want_dense), rtol=1e-14)
    np.testing.assert_allclose((A / 4).toarray(), S.toarray() / 4, rtol=1e-14)


def test_errors_name_the_op():
    A = ms.csr_array(np.eye(3))
    with pytest.raises(ValueError, match=r"\[lt\] inconsistent shapes"):
        A < ms.csr_array(np.eye(4))
    with pytest.raises(ValueError, match=r"\[eq\] inconsistent shapes"):
        A == ms.csr_array(np.eye(4))  # noqa: B015
    with pytest.raises(ValueError, match=r"\[gt\] operand of shape \(2,\) does not broadcast"):
        A > mx.ones((2,))
    with pytest.raises(ValueError, match=r"\[maximum\] inconsistent shapes"):
        A.maximum(ms.csr_array(np.eye(2)))
    with pytest.raises(ValueError, match=r"\[divide\] operand of shape \(4, 4\)"):
        A / mx.ones((4, 4))
    with pytest.raises(ValueError, match=r"\[divide\] inconsistent shapes"):
        A / ms.csr_array(np.eye(2))
    with pytest.raises(TypeError, match=r"\[divide\] x / CSRArray would be dense"):
        1.0 / A
    with pytest.raises(TypeError, match=r"\[lt\] complex"):
        A < 1j


@formats
def test_maximum_gradient_against_dense(fmt):
    a, b = random_case((9, 7), "canonical", seed=7), random_case((9, 7), "canonical", seed=8)
    A, B = in_format(a, fmt), in_format(b, fmt)
    ca, cb = A.tocoo(), B.tocoo()
    W = to_mx(np.random.default_rng(9).uniform(-1, 1, A.shape), F64)

    def sparse(da, db):
        X = ca.with_data(da).asformat(fmt) if fmt != "bsr" else ca.with_data(da).tobsr((1, 1))
        Y = cb.with_data(db).asformat(fmt) if fmt != "bsr" else cb.with_data(db).tobsr((1, 1))
        return mx.sum(X.maximum(Y).todense() * W) + mx.sum(X.minimum(-0.2).todense() * W)

    def dense(da, db):
        X = mx.zeros(A.shape, dtype=F64).at[ca.row, ca.col].add(da)
        Y = mx.zeros(A.shape, dtype=F64).at[cb.row, cb.col].add(db)
        return mx.sum(mx.maximum(X, Y) * W) + mx.sum(mx.minimum(X, -0.2) * W)

    got = mx.grad(sparse, argnums=(0, 1))(ca.data, cb.data)
    want = mx.grad(dense, argnums=(0, 1))(ca.data, cb.data)
    for g, w in zip(got, want):
        assert_close(g, to_np(w), F64, rtol=RTOL[F64] * 10)


@formats
def test_bool_results_convert_and_reduce_as_scipy(fmt):
    case = random_case((13, 11), "duplicates", seed=10)
    A, S = in_format(case, fmt), case.scipy()
    M, T = A > 0.2, S > 0.2
    for other in ("csr", "csc", "coo"):
        np.testing.assert_array_equal(M.asformat(other).toarray(), T.toarray())
    assert float(M.sum()) == T.sum() and M.count_nonzero() == T.count_nonzero()
    for axis in (0, 1):
        np.testing.assert_array_equal(np.array(M.sum(axis=axis)), T.sum(axis=axis))
        np.testing.assert_array_equal(np.array(M.max(axis=axis)), T.max(axis=axis).toarray())
        np.testing.assert_array_equal(np.array(M.argmax(axis=axis)), T.argmax(axis=axis))
    got, want = M.nonzero(), T.nonzero()
    np.testing.assert_array_equal(np.asarray(got[0]), want[0])
    np.testing.assert_array_equal(np.asarray(got[1]), want[1])


def test_division_gradient_against_dense():
    """A / D (a COOArray) and A / B for a B storing every position (dense), both
    differentiable in A's values and in the divisor."""
    A = random_case((9, 7), "duplicates", seed=11).csr(F64)
    coo = A.tocoo()
    D = to_mx(np.random.default_rng(12).uniform(1, 2, A.shape), F64)
    W = to_mx(np.random.default_rng(13).uniform(-1, 1, A.shape), F64)
    full = ms.csr_array(np.ones(A.shape))  # row-major: its values are D.reshape(-1)

    def sparse(d, e):
        B = coo.with_data(d)
        return (mx.sum((B / e).todense() * W)
                + mx.sum((B.tocsc() / full.with_data(mx.reshape(e, (-1,)))) * W))

    def dense(d, e):
        X = mx.zeros(A.shape, dtype=F64).at[coo.row, coo.col].add(d)
        return 2 * mx.sum(X / e * W)

    got = mx.grad(sparse, argnums=(0, 1))(coo.data, D)
    want = mx.grad(dense, argnums=(0, 1))(coo.data, D)
    for g, w in zip(got, want):
        assert_close(g, to_np(w), F64, rtol=RTOL[F64] * 10)
