"""Reductions on every format against numpy / scipy: sum (keepdims, dtype), mean, max, min
(explicit too), argmax, argmin, count_nonzero, nonzero; gradients against dense mx.grad."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import RTOL, assert_close, formats, in_format, random_case, to_mx, to_np, variants

import mlx_sparse as ms

F64 = mx.float64
AXES = pytest.mark.parametrize("axis", [None, 0, 1, -1])
SHAPES = pytest.mark.parametrize("shape", [(7, 11), (1, 9), (9, 1), (37, 29)])


def case_and_dense(shape, variant, seed=0):
    case = random_case(shape, variant, seed=seed)
    if variant == "canonical" and case.nnz:
        case.data[0] = abs(case.data[0]) + 2  # a positive maximum; a full row follows below
    return case, case.dense()


@formats
@variants
@SHAPES
@AXES
def test_sum_mean_as_numpy(fmt, variant, shape, axis):
    case, D = case_and_dense(shape, variant)
    A = in_format(case, fmt)
    assert_close(A.sum(axis), D.sum(axis), F64)
    assert_close(A.sum(axis, keepdims=True), D.sum(axis, keepdims=True), F64)
    assert_close(A.mean(axis), D.mean(axis), F64)
    assert_close(A.mean(axis, keepdims=True), D.mean(axis, keepdims=True), F64)
    assert A.sum(axis, dtype="float32").dtype == mx.float32


@formats
@variants
@SHAPES
@AXES
def test_max_min_as_numpy(fmt, variant, shape, axis):
    case, D = case_and_dense(shape, variant, seed=1)
    A = in_format(case, fmt)
    for op in ("max", "min"):
        assert_close(getattr(A, op)(axis), getattr(D, op)(axis), F64)
        assert_close(getattr(A, op)(axis, keepdims=True), getattr(D, op)(axis, keepdims=True), F64)
        arg = getattr(A, "arg" + op)(axis)
        np.testing.assert_array_equal(np.asarray(arg), getattr(D, "arg" + op)(axis))


@variants
@AXES
def test_explicit_as_scipy(variant, axis):
    case, D = case_and_dense((37, 29), variant, seed=2)
    A, S = case.csr(F64), case.scipy()
    for op in ("max", "min"):
        want = getattr(S, op)(axis=axis, explicit=True)
        want = want if axis is None else want.toarray()
        assert_close(getattr(A, op)(axis, explicit=True), want, F64)
        if axis is not None:
            np.testing.assert_array_equal(np.asarray(getattr(A, "arg" + op)(axis, explicit=True)),
                                          getattr(S, "arg" + op)(axis=axis, explicit=True))
    if A.nnz:  # axis=None: the flat index of the stored extreme (scipy gives its index in data)
        C = S.tocoo()
        C.sum_duplicates()
        k = int(np.asarray(A.argmax(explicit=True)))
        assert D.flat[k] == C.data.max() and (C.row * 29 + C.col == k).any()


def test_implicit_zero_wins_first():
    D = np.array([[0.0, -1.0, 0.0], [-2.0, 0.0, -3.0], [-1.0, -2.0, -3.0]])
    A = ms.csr_array(D)
    assert int(A.argmax()) == 0 and float(A.max()) == 0.0
    np.testing.assert_array_equal(np.asarray(A.argmax(axis=1)), [0, 1, 0])
    np.testing.assert_array_equal(np.asarray(A.max(axis=1)), [0, 0, -1])
    np.testing.assert_array_equal(np.asarray(A.argmin(axis=0)), [1, 2, 1])
    E = ms.csr_array((np.array([0.0, 5.0]), np.array([1, 0]), np.array([0, 2, 2])), shape=(2, 3))
    assert int(E.argmin()) == 1  # a stored zero before the first implicit one


@formats
@variants
def test_counts_and_nonzero_as_scipy(fmt, variant):
    case, _ = case_and_dense((37, 29), variant, seed=3)
    A, S = in_format(case, fmt), case.scipy()
    S.sum_duplicates()
    assert A.count_nonzero() == S.count_nonzero()
    for axis in (0, 1):
        np.testing.assert_array_equal(np.asarray(A.count_nonzero(axis)), S.count_nonzero(axis=axis))
    ref = in_format(case, fmt).toscipy().nonzero() if fmt != "bsr" else S.nonzero()
    got = A.nonzero()
    np.testing.assert_array_equal(np.asarray(got[0]), ref[0])
    np.testing.assert_array_equal(np.asarray(got[1]), ref[1])


def test_errors_name_the_op():
    A = ms.csr_array(np.eye(3))
    with pytest.raises(ValueError, match=r"\[max\] axis must be None, 0 or 1"):
        A.max(axis=2)
    with pytest.raises(ValueError, match=r"\[argmin\] zero-size array"):
        ms.csr_array((0, 3)).argmin()
    with pytest.raises(ValueError, match=r"\[max\] zero-size array"):
        ms.csr_array((3, 0)).max(axis=1)
    with pytest.raises(TypeError, match=r"\[sum\] out= is not supported"):
        A.sum(out=np.zeros(3))
    with pytest.raises(ValueError, match=r"\[argmax\] no stored entry"):
        ms.csr_array((2, 2)).argmax(explicit=True)
    assert float(ms.csr_array((2, 2)).max()) == 0.0
    assert np.isnan(float(ms.csr_array((0, 2)).mean()))


@formats
@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates", "empty_rows"])
def test_gradients_against_dense(fmt, variant):
    case = random_case((9, 7), variant, seed=4)
    A = in_format(case, fmt)
    coo = A.tocoo()
    rows, cols = coo.row, coo.col
    w0, w1 = to_mx(np.arange(7.0) - 3, F64), to_mx(np.arange(9.0) - 4, F64)

    def through(f):
        def loss(d):
            B = f(d)
            return (B.max() + mx.sum(w0 * B.max(axis=0)) + mx.sum(w1 * B.min(axis=1))
                    + mx.sum(w0 * B.mean(axis=0)) + mx.sum(w1 * B.sum(axis=1, keepdims=True)[:, 0]))
        return loss

    def dense(d):
        return mx.zeros(A.shape, dtype=F64).at[rows, cols].add(d)

    def sparse(d):
        return coo.with_data(d).asformat(fmt) if fmt != "bsr" else coo.with_data(d).tobsr((1, 1))

    d = coo.data
    got = mx.grad(lambda d: through(lambda _: sparse(d))(d))(d)
    want = mx.grad(lambda d: through(lambda _: _Dense(dense(d)))(d))(d)
    assert_close(got, to_np(want), F64, rtol=RTOL[F64] * 10)


class _Dense:
    """The reductions of a dense mx.array in the sparse arrays' spelling (the reference)."""

    def __init__(self, x):
        self.x = x

    def max(self, axis=None):
        return mx.max(self.x, axis=axis)

    def min(self, axis=None):
        return mx.min(self.x, axis=axis)

    def mean(self, axis=None):
        return mx.mean(self.x, axis=axis)

    def sum(self, axis=None, keepdims=False):
        return mx.sum(self.x, axis=axis, keepdims=keepdims)


def test_scipy_sum_matches():
    case = random_case((37, 29), "duplicates", seed=5)
    A, S = ms.csc_array(case.scipy()), case.scipy()
    assert_close(A.sum(axis=0), S.sum(axis=0), F64)
    assert isinstance(A.sum(), mx.array) and A.sum().shape == ()
    assert_close(A.max(), S.max(), F64)
