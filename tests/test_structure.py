"""Structure functions against scipy.sparse on every variant: bmat, vstack, hstack,
block_diag, kron, kronsum, tril, triu, diagonal, trace, setdiag, identity, eye_array, diags
(scipy's signature), random / rand / random_array (scipy's rng and random_state), and the
gradients of the values through them."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import index_dtypes, random_case, to_np, value_dtypes, variants, RTOL

import mlx_sparse as ms


def _pair(shape, variant, seed, dtype=mx.float64, index_dtype=mx.int32):
    case = random_case(shape, variant, density=0.4, seed=seed)
    return case.csr(dtype, index_dtype), case.scipy()


def _same(got, want, dtype=mx.float64):
    assert isinstance(got, ms.CSRArray), type(got)
    got.check_format(full_check=True)
    want = want.toarray() if sp.issparse(want) else np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.toarray().astype(np.float64), want, rtol=RTOL[dtype],
                               atol=RTOL[dtype])


def _format_or_clear_error(make):
    """format='coo' gives a COO array where the format exists, else says it is not available."""
    try:
        out = make()
    except ValueError as e:
        assert "format 'coo' is not available" in str(e)
    else:
        assert out.format == "coo"


# ---- blocks

@variants
@index_dtypes
def test_bmat_vstack_hstack_block_diag(variant, index_dtype):
    A, SA = _pair((5, 7), variant, 1, index_dtype=index_dtype)
    B, SB = _pair((3, 7), variant, 2, index_dtype=index_dtype)
    C, SC = _pair((5, 2), variant, 3, index_dtype=index_dtype)
    _same(ms.vstack([A, B, A]), sp.vstack([SA, SB, SA]))
    _same(ms.hstack([A, C]), sp.hstack([SA, SC]))
    _same(ms.block_diag([A, B, C]), sp.block_diag([SA, SB, SC]))
    _same(ms.bmat([[A, C], [B, None]]), sp.bmat([[SA, SC], [SB, None]]))
    _same(ms.bmat([[None, C], [B, None]]), sp.bmat([[None, SC], [SB, None]]))
    out = ms.bmat([[A, C], [B, None]])
    assert out.has_sorted_indices == (A.has_sorted_indices and B.has_sorted_indices
                                      and C.has_sorted_indices) or not out.has_sorted_indices


def test_stacking_mixed_operands_and_dtypes():
    A, SA = _pair((4, 3), "canonical", 4, dtype=mx.float32)
    D = np.arange(6.0).reshape(2, 3)
    out = ms.vstack([A, sp.csr_array(D), D])  # ours, scipy's, dense
    _same(out, sp.vstack([SA, sp.csr_array(D), sp.csr_array(D)]), mx.float32)
    assert out.dtype == mx.float64  # float32 with the float64 operands: promoted, never narrowed
    assert ms.vstack([A, A.astype(mx.float16)]).dtype == mx.float32
    assert ms.hstack([A, A], dtype=mx.float16).dtype == mx.float16
    E = ms.bmat([[None, None], [None, ms.csr_array((2, 2))]])
    assert E.shape == (2, 2) and E.nnz == 0


def test_stacking_errors():
    A = ms.csr_array(np.eye(3))
    with pytest.raises(ValueError, match=r"\[vstack\] blocks\[1, 0\] has 4 columns, but block column 0 has 3"):
        ms.vstack([A, ms.csr_array(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"\[hstack\] blocks\[0, 1\] has 2 rows, but block row 0 has 3"):
        ms.hstack([A, ms.csr_array(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"\[vstack\] expected a non-empty sequence"):
        ms.vstack([])
    with pytest.raises(ValueError, match=r"\[bmat\] blocks must be a non-empty 2-D sequence"):
        ms.bmat([[A], [A, A]])
    with pytest.raises(TypeError, match=r"\[hstack\] dtype must be one of"):
        ms.hstack([A, A], dtype=np.int32)
    with pytest.raises(TypeError, match=r"\[vstack\]"):
        ms.vstack([A, "x"])
    _format_or_clear_error(lambda: ms.vstack([A, A], format="coo"))
    assert ms.hstack([A, A], format="csr").shape == (3, 6)
    S = sp.csr_array(np.eye(3))
    _same(ms.vstack([A, None, A]), sp.vstack([S, None, S]))  # None: no block, as scipy
    _same(ms.hstack([None, A]), sp.hstack([None, S]))
    with pytest.raises(TypeError, match=r"\[setdiag\] expected a CSRArray \(set in place\), got ndarray"):
        ms.setdiag(np.eye(3), 1.0)
    with pytest.raises(TypeError, match=r"\[setdiag\] values must be real numbers"):
        ms.setdiag(A, "abc")
    with pytest.raises(TypeError, match=r"\[random\] dtype must be one of"):
        ms.random(3, 3, 0.5, dtype=np.int32)
    with pytest.raises(TypeError, match=r"\[diags\] shape must be a pair of integers"):
        ms.diags([1.0, 2.0], [0, 1], shape=(2,))
    with pytest.raises(ValueError, match=r"\[eye\] shape must be non-negative"):
        ms.identity(-1)
    np.testing.assert_allclose(float(ms.trace(np.eye(3) * 2)), 6.0)  # dense operands too


# ---- Kronecker products

@variants
def test_kron_matches_scipy(variant):
    A, SA = _pair((3, 4), variant, 5)
    B, SB = _pair((5, 2), variant, 6)
    out = ms.kron(A, B)
    _same(out, sp.kron(SA, SB))
    if A.has_canonical_format and B.has_canonical_format:
        assert out.has_canonical_format
    _same(ms.kron(A, SB.toarray()), sp.kron(SA, SB))  # dense operands, as scipy takes them
    _same(ms.kron(A, ms.csr_array((0, 3))), sp.kron(SA, sp.csr_array((0, 3))))


@variants
def test_kronsum_matches_scipy(variant):
    A, SA = _pair((4, 4), variant, 7)
    B, SB = _pair((3, 3), variant, 8)
    _same(ms.kronsum(A, B), sp.kronsum(SA, SB))
    with pytest.raises(ValueError, match=r"\[kronsum\] B must be square, got shape \(3, 2\)"):
        ms.kronsum(A, ms.csr_array(np.ones((3, 2))))
    _format_or_clear_error(lambda: ms.kron(A, B, format="coo"))


# ---- triangles and diagonals

@variants
@pytest.mark.parametrize("k", [-3, -1, 0, 2, 9])
def test_tril_triu(variant, k):
    A, SA = _pair((6, 8), variant, 9)
    lower, upper = ms.tril(A, k), ms.triu(A, k)
    _same(lower, sp.tril(SA, k))
    _same(upper, sp.triu(SA, k))
    assert lower.has_sorted_indices or not A.has_sorted_indices
    with pytest.raises(TypeError, match=r"\[tril\] the diagonal offset must be an integer"):
        ms.tril(A, 0.5)


@variants
def test_diagonal_and_trace(variant):
    A, SA = _pair((6, 8), variant, 10)
    for k in range(-7, 10):
        np.testing.assert_allclose(to_np(A.diagonal(k)), SA.diagonal(k), atol=1e-12)
        np.testing.assert_allclose(float(A.trace(k)), SA.trace(k), atol=1e-12)
    np.testing.assert_allclose(to_np(ms.diagonal(A)), SA.diagonal())
    assert float(ms.trace(ms.csr_array((0, 0)))) == 0.0


@variants
def test_setdiag_inside_pattern(variant):
    A = ms.csr_array(random_case((5, 6), variant, seed=11).scipy() + sp.eye_array(5, 6),
                     dtype=mx.float64)
    S = A.toscipy()
    A.setdiag([1.0, 2.0, 3.0])  # the first three entries, as scipy's
    S.setdiag([1.0, 2.0, 3.0])
    _same(A, S)
    A.setdiag(7.0)
    S.setdiag(7.0)
    _same(A, S)
    A.setdiag([0.1, 1 / 3], k=0)  # float64 values stay float64
    S.setdiag([0.1, 1 / 3], k=0)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    E = ms.eye(4, k=1, dtype=mx.float64)
    E.setdiag(mx.array([5.0, 6.0, 7.0, 8.0, 9.0], dtype=mx.float64), 1)  # longer: cut
    np.testing.assert_array_equal(E.toarray(), np.diag([5.0, 6.0, 7.0], 1))
    E.setdiag(0.0)  # zeros where nothing is stored: allowed, nothing changes
    with pytest.raises(ValueError, match=r"\[setdiag\] entry \(0, 0\) is not stored: the pattern"):
        E.setdiag(1.0)
    with pytest.raises(ValueError, match=r"\[setdiag\] k=4 exceeds"):
        E.setdiag(1.0, 4)
    with pytest.raises(ValueError, match=r"\[setdiag\] values must be a scalar or 1-D"):
        E.setdiag(np.ones((2, 2)), 1)


# ---- constructors

@pytest.mark.parametrize("shape,k", [((4, 4), 0), ((4, 6), 2), ((6, 4), -3), ((3, 5), 5), ((3, 5), -3)])
def test_eye_array_identity(shape, k):
    _same(ms.eye_array(*shape, k=k), sp.eye_array(*shape, k=k), mx.float32)
    _same(ms.identity(shape[0]), sp.identity(shape[0]), mx.float32)
    assert ms.identity(3, dtype=mx.float64).dtype == mx.float64
    assert ms.eye(*shape, k=k, format="csr").shape == shape
    _format_or_clear_error(lambda: ms.identity(3, format="coo"))
    with pytest.raises(ValueError, match=r"\[diags\] offset 7 is out of bounds for shape \(3, 5\)"):
        ms.eye(3, 5, k=7)  # as scipy's eye_array


def test_diags_scipy_signature():
    # a scalar per diagonal; shape, format and dtype positional as scipy's diags
    _same(ms.diags([1.0, -2.0, 1.0], [-1, 0, 1], (5, 5), "csr", mx.float64),
          sp.diags_array([1.0, -2.0, 1.0], offsets=[-1, 0, 1], shape=(5, 5)))
    _same(ms.diags([[1.0, 2.0, 3.0, 4.0], 3.0], [0, 2], shape=(4, 5)),
          sp.diags_array([[1.0, 2.0, 3.0, 4.0], 3.0], offsets=[0, 2], shape=(4, 5)), mx.float32)
    _same(ms.diags_array(np.arange(1.0, 6.0), offsets=-1),
          sp.diags_array(np.arange(1.0, 6.0), offsets=-1), mx.float32)  # shape from the first
    _same(ms.diags(np.arange(1.0, 9.0), 1, shape=(3, 3)),  # longer than the diagonal: cut
          sp.diags_array(np.arange(1.0, 9.0), offsets=1, shape=(3, 3)), mx.float32)
    _same(ms.diags(mx.array([1.0, 2.0]), shape=(2, 3)), sp.diags_array([1.0, 2.0], shape=(2, 3)),
          mx.float32)
    _format_or_clear_error(lambda: ms.diags([1.0, 2.0], format="coo"))
    with pytest.raises(ValueError, match=r"\[diags\] repeated offsets"):
        ms.diags([1.0, 2.0], [1, 1])


@pytest.mark.parametrize("density", [0.0, 0.15, 1.0])
def test_random_is_scipys_draw(density):
    for kw in ({"rng": 3}, {"random_state": 3}, {"seed": 3}):
        got = ms.random(9, 7, density, dtype=mx.float64, **kw)
        scipy_kw = {"rng": 3} if "seed" in kw else kw
        _same(got, sp.random(9, 7, density, format="csr", **scipy_kw))
    _same(ms.rand(6, 8, density, rng=np.random.default_rng(4), dtype=mx.float64),
          sp.rand(6, 8, density, format="csr", rng=np.random.default_rng(4)))
    _same(ms.random_array((6, 8), density=density, rng=5, dtype=mx.float64),
          sp.random_array((6, 8), density=density, rng=5))
    sampler = lambda size: np.full(size, 2.5)  # noqa: E731
    got = ms.random(6, 8, density, rng=1, data_rvs=sampler)
    assert got.nnz == round(density * 48) and np.all(to_np(got.data) == 2.5)
    assert ms.random(6, 8, density, rng=1).dtype == mx.float32


def test_random_errors_and_format():
    with pytest.raises(ValueError, match=r"\[rand\] density must be in \[0, 1\]"):
        ms.rand(3, 3, -0.1)
    with pytest.raises(ValueError, match=r"\[random\] pass one of rng, random_state and seed"):
        ms.random(3, 3, rng=1, random_state=1)
    with pytest.raises(ValueError, match=r"\[random_array\] shape must be non-negative"):
        ms.random_array((-1, 3))
    _format_or_clear_error(lambda: ms.random(4, 4, 0.5, "coo", rng=0))


# ---- gradients of the values

def _grad_of_entries(A, G):
    """d(sum(G * A.todense()))/d(A.data)."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(np.asarray(A.indptr)))
    return G[rows, np.asarray(A.indices)]


@variants
def test_grad_through_stacking_kron_and_triangles(variant):
    A, _ = _pair((3, 4), variant, 12)
    B, _ = _pair((2, 4), variant, 13)
    DA = mx.array(A.toarray(), dtype=mx.float64)
    DB = mx.array(B.toarray(), dtype=mx.float64)
    rng = np.random.default_rng(0)

    def dense_kron(x, y):
        (p, q), (r, s) = x.shape, y.shape
        return mx.reshape(x[:, None, :, None] * y[None, :, None, :], (p * r, q * s))

    cases = [
        (lambda a, b: ms.vstack([a, b, a]), lambda x, y: mx.concatenate([x, y, x], axis=0)),
        (lambda a, b: ms.bmat([[a, None], [b, b]]),
         lambda x, y: mx.concatenate([mx.concatenate([x, mx.zeros((3, 4), mx.float64)], axis=1),
                                      mx.concatenate([y, y], axis=1)], axis=0)),
        (lambda a, b: ms.kron(a, b), dense_kron),
        (lambda a, b: ms.kronsum(a[:, :3], b[:, :2]),
         lambda x, y: dense_kron(mx.eye(2, dtype=mx.float64), x[:, :3])
         + dense_kron(y[:, :2], mx.eye(3, dtype=mx.float64))),
    ]
    for sparse_f, dense_f in cases:
        out_shape = dense_f(DA, DB).shape
        W = mx.array(rng.standard_normal(out_shape), dtype=mx.float64)
        ga, gb = mx.grad(lambda a, b: mx.sum(W * sparse_f(A.with_data(a), B.with_data(b)).todense()),
                         argnums=(0, 1))(A.data, B.data)
        GA, GB = mx.grad(lambda x, y: mx.sum(W * dense_f(x, y)), argnums=(0, 1))(DA, DB)
        np.testing.assert_allclose(to_np(ga), _grad_of_entries(A, to_np(GA)), atol=1e-12)
        np.testing.assert_allclose(to_np(gb), _grad_of_entries(B, to_np(GB)), atol=1e-12)
    W = mx.array(rng.standard_normal((3, 4)), dtype=mx.float64)
    g = mx.grad(lambda a: mx.sum(W * ms.tril(A.with_data(a), 1).todense())
                + mx.sum(ms.diagonal(A.with_data(a), 1)))(A.data)
    G = mx.grad(lambda x: mx.sum(W * mx.tril(x, 1)) + mx.sum(mx.diagonal(x, 1)))(DA)
    np.testing.assert_allclose(to_np(g), _grad_of_entries(A, to_np(G)), atol=1e-12)


@value_dtypes
def test_structure_keeps_value_dtype(dtype):
    A, SA = _pair((4, 5), "canonical", 14, dtype=dtype)
    for out in (ms.vstack([A, A]), ms.kron(A, A), ms.tril(A), A[1:3], A[:, [0, 4]]):
        assert out.dtype == dtype
    _same(ms.kron(A, A), sp.kron(SA, SA), dtype)


# ---- scipy's file format

@variants
@index_dtypes
def test_save_npz_load_npz_with_scipy(tmp_path, variant, index_dtype):
    A, SA = _pair((6, 5), variant, 15, index_dtype=index_dtype)
    ms.save_npz(tmp_path / "a.npz", A)
    S = sp.load_npz(tmp_path / "a.npz")  # scipy reads ours, non-canonical entries included
    assert isinstance(S, sp.csr_array)
    np.testing.assert_array_equal(S.toarray(), SA.toarray())
    with open(tmp_path / "a.npz", "rb") as f:  # a file object, read twice
        B = ms.load_npz(f)
    assert B.index_dtype == index_dtype
    _same(B, SA)
    sp.save_npz(tmp_path / "s.npz", sp.csr_matrix(SA).todia(), compressed=False)
    _same(ms.load_npz(tmp_path / "s.npz"), SA)


def test_dtype_names_and_numpy_dtypes():
    """eye, identity, diags and random take dtype names and numpy dtypes, as the
    constructors and astype do."""
    assert ms.eye(3, dtype="float16").dtype == mx.float16
    assert ms.identity(2, dtype=np.float32).dtype == mx.float32
    assert ms.diags([1, 2, 3], dtype="bfloat16").dtype == mx.bfloat16
    assert ms.random(4, 4, density=0.5, dtype=np.float16).dtype == mx.float16
    if mx.default_device() == mx.cpu:
        assert ms.diags([1, 2], dtype=np.float64).dtype == mx.float64
    with pytest.raises(TypeError, match=r"\[diags\] dtype must be one of"):
        ms.eye(2, dtype="int8")
