"""spmv: sparse @ vector, against dense numpy in float64."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import (SHAPES, assert_close, index_dtypes, rand, random_case, to_mx, value_dtypes,
                      variants)


@variants
@value_dtypes
@index_dtypes
def test_spmv(variant, dtype, index_dtype):
    for i, shape in enumerate(SHAPES):
        case = random_case(shape, variant, seed=i)
        A = case.csr(dtype, index_dtype)
        x = rand(shape[1], seed=i, dtype=dtype)
        y = A @ to_mx(x, dtype)
        assert y.shape == (shape[0],) and y.dtype == dtype
        assert_close(y, case.dense(dtype) @ x, dtype, scale=case.abs_dense(dtype) @ np.abs(x))


@variants
def test_spmv_function_and_batched_x(variant):
    case = random_case((37, 29), variant, seed=3)
    A = case.csr(mx.float32)
    X = rand((2, 3, 29), seed=3, dtype=mx.float32)
    Y = ms.spmv(A, to_mx(X))
    assert Y.shape == (2, 3, 37)
    ref = np.einsum("mn,abn->abm", case.dense(mx.float32), X)
    scale = np.einsum("mn,abn->abm", case.abs_dense(mx.float32), np.abs(X))
    assert_close(Y, ref, mx.float32, scale=scale)


def test_spmv_numpy_and_list_operands():
    S = sp.random(7, 11, density=0.4, format="csr", random_state=0)
    A = ms.csr_array(S)  # float64
    x = np.random.default_rng(0).standard_normal(11)
    y = A @ x
    assert isinstance(y, mx.array) and y.dtype == mx.float64
    assert_close(y, S @ x, mx.float64)
    y2 = A @ x.tolist()
    assert_close(y2, S @ x, mx.float64)


@pytest.mark.parametrize("a_dtype,x_dtype,out", [
    (mx.float16, mx.float32, mx.float32),
    (mx.float32, mx.float16, mx.float32),
    (mx.bfloat16, mx.float16, mx.float32),
    (mx.float32, mx.float64, mx.float64),
    (mx.float32, mx.int32, mx.float32),
])
def test_spmv_dtype_promotion(a_dtype, x_dtype, out):
    case = random_case((9, 13), seed=1)
    A = case.csr(a_dtype)
    x = np.arange(13) % 5 - 2.0
    xm = mx.array(x.astype(np.int32)) if x_dtype == mx.int32 else to_mx(x, x_dtype)
    y = A @ xm
    assert y.dtype == out
    assert_close(y, case.dense(a_dtype) @ x, mx.float16 if mx.float16 in (a_dtype, x_dtype)
                 or mx.bfloat16 in (a_dtype, x_dtype) else mx.float32)


def test_spmv_non_contiguous_x():
    case = random_case((37, 29), seed=2)
    A = case.csr(mx.float32)
    X = rand((29, 4), seed=2, dtype=mx.float32)
    Xm = to_mx(X)
    for col in range(4):
        assert_close(A @ Xm[:, col], case.dense() @ X[:, col], mx.float32)
    big = rand(58, seed=5, dtype=mx.float32)
    assert_close(A @ to_mx(big)[::2], case.dense() @ big[::2], mx.float32)
    assert_close(A @ mx.broadcast_to(mx.array(1.5), (29,)), case.dense() @ np.full(29, 1.5),
                 mx.float32)


@index_dtypes
def test_spmv_medium(index_dtype):
    S = sp.random(2000, 1500, density=0.01, format="csr", dtype=np.float64, random_state=7)
    x = np.random.default_rng(7).standard_normal(1500)
    A = ms.csr_array(S, dtype=mx.float32, index_dtype=index_dtype)
    S32 = S.astype(np.float32).astype(np.float64)
    x32 = x.astype(np.float32).astype(np.float64)
    assert_close(A @ mx.array(x.astype(np.float32)), S32 @ x32, mx.float32,
                 scale=abs(S32) @ np.abs(x32))
    A64 = ms.csr_array(S, index_dtype=index_dtype)
    assert_close(A64 @ x, S @ x, mx.float64, scale=abs(S) @ np.abs(x))


def test_spmv_all_rows_empty_gives_zeros():
    A = ms.csr_array((5, 4))
    y = A @ mx.ones((4,))
    np.testing.assert_array_equal(np.array(y), np.zeros(5))
    y = ms.csr_array((0, 4)) @ mx.ones((4,))
    assert y.shape == (0,)
    y = ms.csr_array((3, 0)) @ mx.ones((0,))
    np.testing.assert_array_equal(np.array(y), np.zeros(3))


def test_spmv_nan_and_inf_propagate():
    A = ms.csr_array((np.array([1.0, 2.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 3))
    y = np.array(A @ mx.array([np.inf, np.nan, 0.0], dtype=mx.float64))
    assert np.isposinf(y[0]) and np.isnan(y[1])
    # column 2 is not stored: its NaN must not leak into any row
    y = np.array(A @ mx.array([1.0, 1.0, np.nan], dtype=mx.float64))
    np.testing.assert_array_equal(y, [1.0, 2.0])
