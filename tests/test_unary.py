"""Zero-preserving unary ops and power on every format against scipy.sparse (duplicates
summed first, pattern and format kept), their gradients against dense mx.grad."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import (RTOL, assert_close, formats, in_format, random_case, to_mx, to_np,
                      value_dtypes, variants)

import mlx_sparse as ms

F64 = mx.float64
UNARY = ["sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh", "rint", "floor",
         "ceil", "trunc", "expm1", "log1p", "deg2rad", "rad2deg", "sqrt", "sign", "abs"]


def scaled(case):
    """Values in (-0.9, 0.9) times 3 rounded away from .5 ties (arctanh and rint stay finite
    and unambiguous); sqrt of negatives is nan in both."""
    case.data = case.data * 0.9
    return case


@formats
@variants
@pytest.mark.parametrize("op", UNARY)
def test_unary_as_scipy(fmt, variant, op):
    case = scaled(random_case((37, 29), variant, seed=UNARY.index(op)))
    A, S = in_format(case, fmt), case.scipy()
    data = np.asarray(case.data)
    if op in ("rint", "floor", "ceil", "trunc"):  # whole numbers ahead of rounding
        case.data = data * 3
        A, S = in_format(case, fmt), case.scipy()
    B = getattr(A, op)()
    assert type(B) is type(A) and B.shape == A.shape
    with np.errstate(invalid="ignore"):
        want = getattr(S, op)() if op != "abs" else abs(S)
    rtol = 1e-6 if op == "sin" else 1e-12  # MLX's float64 sin on the CPU: ~1e-7 relative
    np.testing.assert_allclose(B.toarray(), want.toarray(), rtol=rtol, atol=rtol * 1e-3, equal_nan=True)


def test_duplicates_are_summed_first():
    A = ms.coo_array(([0.5, 0.5], ([0, 0], [1, 1])), shape=(1, 2))
    assert float(A.sin().toarray()[0, 1]) == pytest.approx(np.sin(1.0))
    assert A.sin().nnz == 1 and A.nnz == 2  # A itself is left as it is


@formats
@variants
@pytest.mark.parametrize("n", [2, 3, 0.5, -1, 1.5])
def test_power_as_scipy(fmt, variant, n):
    case = random_case((13, 11), variant, seed=3)
    A, S = in_format(case, fmt), case.scipy()
    with np.errstate(invalid="ignore", divide="ignore"):
        want = S.power(n).toarray()
    for got in (A.power(n), A ** n):
        assert type(got) is type(A)
        np.testing.assert_allclose(got.toarray(), want, rtol=1e-12, equal_nan=True)


def test_power_errors_and_dtype():
    A = ms.csr_array(np.eye(3))
    with pytest.raises(NotImplementedError, match=r"\[power\] zero power"):
        A ** 0
    with pytest.raises(TypeError, match=r"\[power\] the exponent must be a scalar"):
        A ** mx.ones((3, 3))
    assert A.power(2, dtype="float16").dtype == mx.float16
    assert A.power(2, dtype=np.float16).dtype == mx.float16


def test_conj_real_imag():
    case = random_case((7, 11), "duplicates", seed=4)
    A = case.csr(F64)
    np.testing.assert_array_equal(A.conj().toarray(), A.toarray())
    assert A.conj() is not A and A.real is A
    assert A.imag.toarray().sum() == 0 and A.imag.shape == A.shape


@value_dtypes
def test_dtypes_kept(dtype):
    A = random_case((7, 11), "canonical", seed=5).csr(dtype)
    for op in ("sin", "sqrt", "abs", "sign", "expm1"):
        assert getattr(A, op)().dtype == dtype


@formats
@pytest.mark.parametrize("variant", ["canonical", "unsorted", "duplicates", "explicit_zeros"])
def test_gradients_against_dense(fmt, variant):
    case = random_case((9, 7), variant, seed=6)
    case.data = np.abs(case.data) + 0.1  # sqrt and log1p differentiable at every stored entry
    A = in_format(case, fmt)
    coo = A.tocoo()
    rows, cols = coo.row, coo.col
    W = to_mx(np.random.default_rng(7).uniform(-1, 1, A.shape), F64)

    def sparse(d):
        B = coo.with_data(d)
        B = B.tobsr((1, 1)) if fmt == "bsr" else B.asformat(fmt)
        out = B.sin() + B.sqrt() * 2 + B.tanh().power(3) + B.log1p() + abs(B) ** 1.5
        return mx.sum(out.todense() * W)

    def dense(d):
        D = mx.zeros(A.shape, dtype=F64).at[rows, cols].add(d)
        out = mx.sin(D) + mx.sqrt(D) * 2 + mx.tanh(D) ** 3 + mx.log1p(D) + mx.abs(D) ** 1.5
        return mx.sum(out * W)

    d = coo.data
    assert_close(mx.grad(sparse)(d), to_np(mx.grad(dense)(d)), F64, rtol=RTOL[F64] * 10)


def test_grad_of_a_sparse_argument():
    A = random_case((9, 7), "canonical", seed=8).csr(F64)
    g = mx.grad(lambda B: mx.sum(B.sin().data))(A)
    assert_close(g["data"], np.cos(to_np(A.data)), F64, rtol=1e-6)  # MLX's float64 cos: ~1e-7
    assert isinstance(A.sin().toscipy(), sp.csr_array)
