"""Indexing (A[key]) and assignment inside the pattern (A[key] = v), against numpy's indexing
of the dense matrix and scipy.sparse.csr_array's result types, on every variant."""

from __future__ import annotations

import warnings

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import GPU_TESTS, VARIANTS, index_dtypes, random_case, to_np, variants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlx_sparse as ms

_DTYPE = mx.float32 if GPU_TESTS else mx.float64  # the properties' values (no float64 on a GPU)

SHAPE = (7, 9)
MASK = np.random.default_rng(5).random(SHAPE) < 0.4

KEYS = [
    2, -1, np.int64(3), (2, 3), (-1, -2), (0, 8), slice(1, 5), slice(None, None, 2),
    slice(6, 1, -2), slice(3, 3), (slice(None), 4), (slice(1, 5), slice(2, 7)),
    (slice(None, None, -1), slice(8, 0, -3)), [0, 2, 2, 6], [-1, 0], np.array([], np.int64),
    (slice(None), [1, 1, 8, 0]), (slice(2, 6), [5, 2]), ([4, 1], slice(1, 6)),
    ([0, 1, 6], [2, 3, 8]), (np.array([[0], [5], [5]]), [2, 8, 3]),
    (np.array([[0, 1], [2, 3]]), np.array([[1, 1], [5, 0]])), (3, [1, 2, 2]), ([3, 4], 5),
    np.array([True, False, True, False, True, True, False]),
    (slice(None), np.arange(9) % 3 == 0), (2, slice(1, 4)), (slice(1, 4), 2), (Ellipsis, 2),
    (2, Ellipsis), (Ellipsis,), (None, 1), (1, None), (None, slice(None), 1),
    (slice(None), 1, None), (None, 2, 3), (None, None, 2, 3), MASK, mx.array([1, 3]),
    (mx.array([1, 3]), mx.array([0, 8])), [[1, 2], [3, 4]],
]


def _dense_result(x):
    return x.toarray() if isinstance(x, (ms.CSRArray, sp.sparray)) else np.asarray(
        to_np(x) if isinstance(x, mx.array) else x, dtype=np.float64)


def _np_key(key):
    if isinstance(key, tuple):
        return tuple(np.asarray(k) if isinstance(k, mx.array) else k for k in key)
    return np.asarray(key) if isinstance(key, (mx.array, list)) else key


def _scipy_pairs_rows_with_stepped_slice(key):
    """scipy 1.17 treats S[rows, a:b:step] (step not 1) as entry pairs, and fails or returns an
    ndarray: numpy's answer (a 2-D sparse result here) is the reference there."""
    return (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], slice)
            and key[1].step not in (None, 1) and not isinstance(key[0], (int, np.integer, slice)))


def _check(A, D, S, key):
    """A[key] against numpy's D[key] (values, shape) and scipy's S[key] (sparse or not)."""
    want = D[_np_key(key)]
    if np.ndim(want) > 2:
        with pytest.raises(IndexError, match=r"\[getitem\]"):
            A[key]
        return
    got = A[key]
    tol = 1e-12 if A.dtype == mx.float64 else 1e-6
    np.testing.assert_allclose(_dense_result(got), want, rtol=tol, atol=tol)
    try:
        if _scipy_pairs_rows_with_stepped_slice(key):
            raise IndexError("scipy 1.17 pairs the rows with the slice's columns")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = S[_np_key(key)]
        sparse = sp.issparse(ref) and ref.ndim == 2
    except (IndexError, ValueError):  # scipy refuses some keys numpy takes (rows + a stepped slice)
        sparse = np.ndim(want) == 2
    assert isinstance(got, ms.CSRArray) == sparse


@variants
@index_dtypes
def test_getitem_matches_numpy_and_scipy(variant, index_dtype):
    case = random_case(SHAPE, variant, density=0.45, seed=3)
    A = case.csr(mx.float64, index_dtype)
    D = case.dense()
    S = sp.csr_array(D)
    for key in KEYS:
        _check(A, D, S, key)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (0, 0)])
def test_getitem_degenerate_shapes(shape):
    case = random_case(shape, "canonical", seed=1)
    A, D = case.csr(mx.float64), case.dense()
    for key in [slice(None), (slice(None), slice(1, 3)), np.array([], np.int64),
                (slice(None), np.array([], np.int64))]:
        want = D[key]
        got = A[key]
        assert isinstance(got, ms.CSRArray) and got.shape == want.shape
        np.testing.assert_array_equal(got.toarray(), want)
    if shape == (1, 1):
        assert float(A[0, 0]) == D[0, 0]


def test_result_flags_and_index_dtype():
    case = random_case((30, 40), "canonical", seed=2)
    A = case.csr(mx.float32, mx.int64)
    for key in [slice(3, 9), [4, 2, 2], (slice(None), slice(5, 30)), (slice(None), [1, 5, 9])]:
        B = A[key]
        assert B.index_dtype == mx.int64
        B.check_format(full_check=True)
        assert B.has_sorted_indices
    B = A[:, [9, 5, 5]]  # columns out of order: rows unsorted, as scipy's
    B.check_format(full_check=True)
    np.testing.assert_array_equal(B.toarray(), case.dense(mx.float32)[:, [9, 5, 5]])


# ---- any key numpy and scipy take gives their result

_M, _N = 6, 8


def _component(n):
    ints = st.integers(-n, n - 1)
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    slices = st.builds(slice, bound, bound, st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3])))
    arrays = st.lists(ints, max_size=7).map(lambda v: np.array(v, dtype=np.int64))
    masks = st.lists(st.booleans(), min_size=n, max_size=n).map(np.array)
    return st.one_of(ints, slices, arrays, masks)


@st.composite
def _keys(draw):
    form = draw(st.sampled_from(["row", "pair", "ellipsis", "newaxis"]))
    r, c = draw(_component(_M)), draw(_component(_N))
    if form == "row":
        return r
    if form == "ellipsis":
        return (Ellipsis, c) if draw(st.booleans()) else (r, Ellipsis)
    if form == "newaxis":  # beside ints and slices only
        r = r if isinstance(r, (int, slice)) else 1
        c = c if isinstance(c, (int, slice)) else slice(None)
        return draw(st.sampled_from([(None, r, c), (r, None, c), (r, c, None)]))
    return (r, c)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_keys(), variant=st.sampled_from(VARIANTS), seed=st.integers(0, 3))
def test_any_key_matches_numpy(key, variant, seed):
    case = random_case((_M, _N), variant, density=0.4, seed=seed)
    A, D = case.csr(_DTYPE), case.dense()
    try:
        want = D[_np_key(key)]
    except IndexError:
        with pytest.raises(IndexError, match=r"\[getitem\]"):
            A[key]
        return
    _check(A, D, sp.csr_array(D), key)
    del want


# ---- bad keys say so, naming the op

def test_bad_keys():
    A = random_case(SHAPE, "canonical", seed=0).csr()
    bad = [
        (IndexError, r"row index 7 is out of bounds", 7),
        (IndexError, r"column index -10 is out of bounds", (0, -10)),
        (IndexError, r"row index 9 is out of bounds", [1, 9]),
        (IndexError, r"row index 18446744073709551615 is out of bounds", np.array([2**64 - 1], np.uint64)),
        (IndexError, r"too many indices", (1, 2, 3)),
        (IndexError, r"single ellipsis", (Ellipsis, Ellipsis)),
        (IndexError, r"indices must be integers", 1.5),
        (IndexError, r"must be integers or booleans", np.array([0.5])),
        (IndexError, r"boolean row index of shape \(3,\)", np.array([True, False, True])),
        (IndexError, r"boolean mask of shape \(2, 2\)", np.ones((2, 2), bool)),
        (IndexError, r"do not broadcast", ([0, 1], [0, 1, 2])),
        (IndexError, r"4-D result", (slice(None), None, None)),
        (IndexError, r"bare boolean", True),
        (TypeError, r"sparse index", sp.csr_array(MASK)),
    ]
    for exc, msg, key in bad:
        with pytest.raises(exc, match=r"\[getitem\] .*" + msg):
            A[key]


def test_foreign_string_keys_refused():
    A = random_case(SHAPE, "canonical", seed=0).csr()
    with pytest.raises(KeyError, match=r"\[csr_array\] a CSRArray holds no key but 'data'"):
        A["indices"]
    with pytest.raises(TypeError, match=r"\[csr_array\] item assignment \(A\['x'\] = \.\.\.\) is refused"):
        A["x"] = mx.zeros((3,))
    assert list(dict.keys(A)) == ["data"] and A["data"] is A.data


# ---- gradients of the values through indexing

def _data_grad_reference(A, G):
    """d(sum(G * A.todense()))/d(A.data): each stored value reaches its entry of the dense."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(np.asarray(A.indptr)))
    return G[rows, np.asarray(A.indices)]


@variants
def test_grad_through_getitem(variant):
    case = random_case(SHAPE, variant, density=0.45, seed=7)
    A = case.csr(mx.float64)
    D = mx.array(case.dense(), dtype=mx.float64)
    keys = [[4, 0, 4], (slice(None), [8, 1, 1]), slice(2, 6), (slice(1, 6, 2), slice(None, None, -2)),
            ([0, 3, 3], [8, 2, 2]), (2, slice(None)), (slice(None), 3), (1, 4), MASK,
            (np.array([[0, 1], [6, 6]]), np.array([[1, 1], [5, 0]]))]
    for key in keys:
        out_shape = np.shape(case.dense()[_np_key(key)])
        w = mx.array(np.random.default_rng(1).standard_normal(out_shape), dtype=mx.float64)

        def loss(data):
            r = A.with_data(data)[key]
            return mx.sum(w * (r.todense() if isinstance(r, ms.CSRArray) else r))

        g = mx.grad(loss)(A.data)
        flat = mx.array(np.ascontiguousarray(np.arange(D.size).reshape(D.shape)[_np_key(key)]))
        G = mx.grad(lambda d: mx.sum(w * mx.take(mx.reshape(d, (-1,)), flat)))(D)
        np.testing.assert_allclose(to_np(g), _data_grad_reference(A, to_np(G)), atol=1e-12)


def test_indexing_under_compile_and_vmap():
    case = random_case(SHAPE, "duplicates", density=0.45, seed=8)
    A, D = case.csr(mx.float32), case.dense(mx.float32)
    rows, cols = np.array([3, 1, 1]), np.array([8, 0])
    f = mx.compile(lambda d: A.with_data(d)[rows][:, cols].todense())
    np.testing.assert_allclose(to_np(f(A.data)), D[rows][:, cols], atol=1e-6)
    g = mx.compile(lambda d: A.with_data(d)[[1, 2], [3, 4]])
    np.testing.assert_allclose(to_np(g(A.data)), D[[1, 2], [3, 4]], atol=1e-6)
    batch = mx.stack([A.data, 2 * A.data])
    v = mx.vmap(lambda d: A.with_data(d)[rows].todense())(batch)
    np.testing.assert_allclose(to_np(v), np.stack([D[rows], 2 * D[rows]]), atol=1e-6)


def test_wide_matrix_column_gather():
    """Columns of a matrix far wider than its entries: no table of its width."""
    rng = np.random.default_rng(0)
    S = sp.csr_array((rng.random(100), (rng.integers(0, 50, 100), rng.integers(0, 10**9, 100))),
                     shape=(50, 10**9))
    A = ms.csr_array(S, dtype=mx.float64)
    cols = np.concatenate([S.indices[:3], [5, S.indices[0]]])
    C = S.tocoo()
    want = np.zeros((50, cols.size))  # scipy's own S[:, cols] takes seconds here
    for j, col in enumerate(cols):
        np.add.at(want[:, j], C.row[C.col == col], C.data[C.col == col])
    np.testing.assert_array_equal(A[:, cols].toarray(), want)


# ---- assignment: values inside the pattern

@variants
def test_setitem_inside_pattern(variant):
    case = random_case(SHAPE, variant, density=0.5, seed=4)
    A = case.csr(mx.float64)
    D = case.dense()
    stored = case.pattern().toarray() > 0
    r, c = np.nonzero(stored)
    if r.size < 3:  # nnz0: nothing stored, so only zeros can be set
        A[:, :] = 0.0
        np.testing.assert_array_equal(A.toarray(), D)
        return
    key = (r[:3], c[:3])
    A[key] = [10.0, 20.0, 30.0]
    D[key] = [10.0, 20.0, 30.0]
    np.testing.assert_allclose(A.toarray(), D)
    row = r[0]
    cols = np.flatnonzero(stored[row])
    A[row, cols] = -1.0  # a scalar, broadcast
    D[row, cols] = -1.0
    np.testing.assert_allclose(A.toarray(), D)
    A[MASK & stored] = mx.array(np.arange((MASK & stored).sum()), dtype=mx.float64)
    D[MASK & stored] = np.arange((MASK & stored).sum())
    np.testing.assert_allclose(A.toarray(), D)
    A[[row, row], [cols[0], cols[0]]] = [1.0, 2.0]  # numpy's rule: the last value wins
    D[[row, row], [cols[0], cols[0]]] = [1.0, 2.0]
    np.testing.assert_allclose(A.toarray(), D)
    A.check_format(full_check=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_keys(), scalar=st.booleans(), seed=st.integers(0, 3))
def test_any_assignment_matches_numpy(key, scalar, seed):
    """Every entry stored (a full pattern): any key numpy assigns through sets what numpy sets."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((_M, _N))
    if _DTYPE == mx.float32:  # values float32 holds exactly, so assignment stays exact
        D = D.astype(np.float32).astype(np.float64)
    A = ms.csr_array((mx.array(D.ravel(), dtype=_DTYPE), np.tile(np.arange(_N), _M),
                      np.arange(0, _M * _N + 1, _N)), shape=(_M, _N))
    if isinstance(key, tuple) and any(k is None for k in key):
        with pytest.raises(IndexError, match=r"\[setitem\] None"):
            A[key] = 1.0
        return
    try:
        shape = np.shape(D[_np_key(key)])
    except IndexError:
        with pytest.raises(IndexError, match=r"\[setitem\]"):
            A[key] = 1.0
        return
    value = 3.5 if scalar else rng.standard_normal(shape)
    if _DTYPE == mx.float32:
        value = np.float32(value) if scalar else value.astype(np.float32)
    D[_np_key(key)] = value
    A[key] = value
    np.testing.assert_array_equal(A.toarray(), D)


def test_setitem_outside_pattern_refused():
    case = random_case(SHAPE, "canonical", density=0.3, seed=1)
    A = case.csr(mx.float64)
    before = A.toarray()
    r, c = np.nonzero(case.pattern().toarray() == 0)
    with pytest.raises(ValueError, match=rf"\[setitem\] entry \({r[0]}, {c[0]}\) is not stored: the pattern"):
        A[r[0], c[0]] = 1.0
    np.testing.assert_array_equal(A.toarray(), before)
    A[r[0], c[0]] = 0.0  # zero where nothing is stored changes nothing: allowed
    A[:, :] = np.where(before != 0, 2.0, 0.0)
    np.testing.assert_array_equal(A.toarray(), np.where(before != 0, 2.0, 0.0))
    with pytest.raises(ValueError, match=r"\[setitem\] values of shape \(2,\) do not broadcast"):
        A[0, :] = [1.0, 2.0]
    with pytest.raises(IndexError, match=r"\[setitem\] row index 9"):
        A[9, 0] = 1.0
    with pytest.raises(TypeError, match=r"\[setitem\] values must be real"):
        A[0, 0] = 1j


def test_grad_through_setitem():
    case = random_case(SHAPE, "canonical", density=0.5, seed=2)
    A = case.csr(mx.float64)
    r, c = np.nonzero(case.pattern().toarray())
    key = (r[:4], c[:4])
    W = mx.array(np.random.default_rng(3).standard_normal(SHAPE), dtype=mx.float64)

    def loss(data, v):
        B = A.with_data(data)
        B[key] = v * 3.0
        return mx.sum(W * B.todense())

    v = mx.array([1.0, 2.0, 3.0, 4.0], dtype=mx.float64)
    gd, gv = mx.grad(loss, argnums=(0, 1))(A.data, v)
    Wn = to_np(W)
    want_d = _data_grad_reference(A, Wn)
    want_d[:4] = 0.0  # canonical, row-major: the first four stored entries are overwritten
    np.testing.assert_allclose(to_np(gd), want_d, atol=1e-12)
    np.testing.assert_allclose(to_np(gv), 3.0 * Wn[key], atol=1e-12)
