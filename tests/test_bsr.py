"""BSRArray: construction (scipy, CSR, dense, parts), conversions, products and gradients,
against scipy.sparse.bsr_array and dense numpy in float64."""

import pickle

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from mlx.utils import tree_flatten, tree_map

import mlx_sparse as ms
from conftest import (DENSE_RTOL, GPU_KERNELS, assert_close, index_dtypes, rand, rounded, to_mx, to_np,
                      value_dtypes)

F32 = mx.float32
WIDE = mx.float32 if GPU_KERNELS else mx.float64  # MLX has no float64 on the GPU
BLOCKSIZES = [(1, 1), (2, 3), (4, 4), (16, 16)]
# shapes in blocks: odd, one block row or column, empty
BLOCK_GRIDS = [(3, 5), (1, 4), (5, 1), (2, 2), (0, 3), (3, 0)]


def random_bsr(grid, blocksize, density=0.4, seed=0, empty_rows=False, nnzb0=False):
    """A canonical scipy bsr_array of grid (block rows, block cols), values in [-1, 1)."""
    rng = np.random.default_rng(seed)
    (mb, nb), (R, C) = grid, blocksize
    mask = rng.random((mb, nb)) < density
    if empty_rows and mb:
        mask[::2] = False
    if nnzb0:
        mask[:] = False
    brows, bcols = np.nonzero(mask)
    data = rng.uniform(-1.0, 1.0, (brows.size, R, C))
    indptr = np.zeros(mb + 1, np.int64)
    np.cumsum(np.bincount(brows, minlength=mb), out=indptr[1:])
    return sp.bsr_array((data, bcols.astype(np.int64), indptr), shape=(mb * R, nb * C))


def assert_same_bsr(B, S, rtol=0.0):
    """B (a BSRArray) stores the same blocks as the scipy bsr_array S, in the same order; the
    values exactly unless rtol (sums of duplicates in float32 round in the kernels' order)."""
    assert isinstance(B, ms.BSRArray)
    assert B.shape == S.shape and B.blocksize == S.blocksize and B.nnz == S.nnz
    np.testing.assert_array_equal(np.asarray(B.indptr), S.indptr)
    np.testing.assert_array_equal(np.asarray(B.indices), S.indices)
    if rtol:
        np.testing.assert_allclose(to_np(B.data), S.data, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(to_np(B.data), S.data)


# ---- round trips with scipy

@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=str)
@pytest.mark.parametrize("grid", BLOCK_GRIDS, ids=str)
@pytest.mark.parametrize("kind", ["random", "empty_rows", "nnzb0"])
def test_scipy_round_trip(blocksize, grid, kind):
    S = random_bsr(grid, blocksize, seed=sum(grid), empty_rows=kind == "empty_rows",
                   nnzb0=kind == "nnzb0")
    if WIDE != mx.float64:
        S = S.astype(np.float32)
    B = ms.bsr_array(S)
    assert_same_bsr(B, S)
    assert B.dtype == WIDE and B.index_dtype == mx.int32
    assert B.nnzb == S.indices.size and B.size == S.nnz
    np.testing.assert_array_equal(B.toarray(), S.toarray())
    T = B.toscipy()
    assert isinstance(T, sp.bsr_array) and T.blocksize == S.blocksize
    np.testing.assert_array_equal(T.toarray(), S.toarray())
    assert_same_bsr(ms.bsr_array(T), S)


@value_dtypes
@index_dtypes
def test_dtypes(dtype, index_dtype):
    S = random_bsr((3, 4), (2, 3), seed=1)
    B = ms.bsr_array(S, dtype=dtype, index_dtype=index_dtype)
    assert B.dtype == dtype and B.index_dtype == index_dtype and B.indptr.dtype == index_dtype
    np.testing.assert_array_equal(B.toarray(), rounded(S.toarray(), dtype))
    C = B.tocsr()
    assert C.dtype == dtype and C.index_dtype == index_dtype
    np.testing.assert_array_equal(to_np(C.data), rounded(S.tocsr().data, dtype))
    name = str(dtype).replace("mlx.core.", "")
    assert B.astype(name).dtype == dtype  # names, as numpy and scipy take them
    if dtype in (mx.float32, mx.float16, mx.float64):
        assert ms.bsr_array(S, dtype=np.dtype(name)).dtype == dtype
    assert pickle.loads(pickle.dumps(B)).dtype == dtype
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(B)).toarray(), B.toarray())


def test_non_canonical_blocks_match_scipy_tocsr():
    """Unsorted and duplicate blocks and an all-zero block: tocsr keeps every stored entry in
    stored order, as scipy's bsr.tocsr(); dense forms sum the duplicates."""
    data = np.arange(1.0, 13.0).reshape(3, 2, 2)
    data[0] = 0.0
    parts = (data, np.array([2, 0, 2]), np.array([0, 3, 3]))
    S = sp.bsr_array(parts, shape=(4, 6))
    B = ms.bsr_array(parts, shape=(4, 6))
    assert not B.has_sorted_indices and not B.has_canonical_format
    C, Cs = B.tocsr(), S.tocsr()
    np.testing.assert_array_equal(np.asarray(C.indptr), Cs.indptr)
    np.testing.assert_array_equal(np.asarray(C.indices), Cs.indices)
    np.testing.assert_array_equal(to_np(C.data), Cs.data)
    assert C.nnz == Cs.nnz == 12 and not C.has_canonical_format
    np.testing.assert_array_equal(B.toarray(), S.toarray())
    np.testing.assert_array_equal(B.T.toarray(), S.toarray().T)
    assert B.T.has_sorted_indices


@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=str)
def test_tocsr_matches_scipy(blocksize):
    S = random_bsr((3, 5), blocksize, seed=2)
    C, Cs = ms.bsr_array(S).tocsr(), S.tocsr()
    assert isinstance(C, ms.CSRArray) and C.has_canonical_format
    np.testing.assert_array_equal(np.asarray(C.indptr), Cs.indptr)
    np.testing.assert_array_equal(np.asarray(C.indices), Cs.indices)
    np.testing.assert_array_equal(to_np(C.data), Cs.data)


# ---- constructors

@pytest.mark.parametrize("blocksize", [(1, 1), (2, 3), (4, 4)], ids=str)
@pytest.mark.parametrize("variant", ["canonical", "duplicates", "explicit_zeros", "unsorted"])
def test_from_csrarray(blocksize, variant):
    from conftest import random_case

    case = random_case((12, 12), variant, density=0.1, seed=3)
    if WIDE != mx.float64:
        case.data = rounded(case.data, WIDE)
    A = case.csr(WIDE)
    B = ms.bsr_array(A, blocksize=blocksize)
    # scipy's tobsr of the canonical matrix, explicit zeros kept: the same blocks (scipy
    # orders a block row's blocks by first entry, ours are sorted)
    Sc = case.scipy()
    Sc.sum_duplicates()
    ref = Sc.tobsr(blocksize)
    ref.sort_indices()
    # the GPU kernels (CUDA, Metal) add duplicates atomically, in no fixed order
    rtol = 1e-6 if variant == "duplicates" and WIDE != mx.float64 else 0.0
    assert_same_bsr(B.astype(mx.float64), ref, rtol)
    assert_same_bsr(A.tobsr(blocksize).astype(mx.float64), ref, rtol)
    assert B.has_canonical_format
    np.testing.assert_allclose(B.toarray(), case.dense(), rtol=1e-6 if WIDE == F32 else 1e-14,
                               atol=1e-6 if WIDE == F32 else 1e-14)
    C = ms.bsr_array(A, blocksize=blocksize, copy=True)
    assert_close(C.todense(), case.dense(), WIDE)


@pytest.mark.parametrize("kind", ["mx", "numpy", "list"])
def test_from_dense(kind):
    rng = np.random.default_rng(4)
    dense = np.zeros((6, 9), np.float32)
    dense[0:2, 3:6] = rng.uniform(1, 2, (2, 3))
    dense[4, 0] = 5.0  # one nonzero keeps its whole block
    arg = {"mx": mx.array(dense), "numpy": dense, "list": dense.tolist()}[kind]
    B = ms.bsr_array(arg, blocksize=(2, 3))
    assert_same_bsr(B.astype(mx.float64), sp.bsr_array(dense.astype(np.float64), blocksize=(2, 3)))
    assert B.nnzb == 2
    assert B.dtype == (mx.float64 if kind == "list" else mx.float32)
    np.testing.assert_array_equal(B.toarray(), dense)


def test_from_dense_gradient_reaches_dense():
    W = mx.array(rand((4, 6), seed=5).astype(np.float32))
    W = mx.where(mx.abs(W) > 0.5, W, 0)
    g = mx.grad(lambda w: mx.square(ms.bsr_array(w, blocksize=(2, 2)).todense()).sum())(W)
    kept = np.kron((np.abs(np.array(W)).reshape(2, 2, 3, 2).sum(axis=(1, 3)) > 0), np.ones((2, 2)))
    assert_close(g, 2 * np.array(W) * kept, F32)


def test_from_parts_and_shape_inference():
    data = np.arange(12.0).reshape(2, 2, 3)
    B = ms.bsr_array((data, [1, 0], [0, 1, 2]))
    S = sp.bsr_array((data, np.array([1, 0]), np.array([0, 1, 2])))
    assert B.shape == S.shape == (4, 6)
    assert_same_bsr(B, S)
    B = ms.bsr_array((mx.array(data), mx.array([1, 0]), mx.array([0, 1, 2])), shape=(4, 9),
                     blocksize=(2, 3), dtype=mx.float32, index_dtype="int64")
    assert B.shape == (4, 9) and B.dtype == mx.float32 and B.index_dtype == mx.int64
    np.testing.assert_array_equal(B.toarray(), sp.bsr_array((data, [1, 0], [0, 1, 2]), shape=(4, 9)).toarray())


def test_blocksize_chosen_as_scipy():
    """Without blocksize, dense and CSRArray input are blocked as scipy.sparse.bsr_array blocks them."""
    rng = np.random.default_rng(5)
    dense = np.kron(rng.random((4, 6)) < 0.4, np.ones((3, 2))) * rng.standard_normal((12, 12))
    for arg in (dense, mx.array(dense.astype(np.float32)), ms.csr_array(dense)):
        B = ms.bsr_array(arg)
        ref = sp.bsr_array(dense)
        assert B.blocksize == ref.blocksize and B.nnzb == ref.indices.size
        np.testing.assert_allclose(np.array(B.todense()), dense, rtol=1e-6)
    assert ms.csr_array(np.eye(4)).tobsr().blocksize == sp.bsr_array(np.eye(4)).blocksize


def test_from_scipy_formats_and_blocksize():
    S = sp.random(8, 12, density=0.2, format="coo", random_state=6)
    B = ms.bsr_array(S, blocksize=(4, 3))
    assert_same_bsr(B, S.tobsr((4, 3)))
    assert ms.bsr_array(S).blocksize == S.tobsr().blocksize  # scipy's choice without one
    assert_same_bsr(ms.bsr_array(B.toscipy(), blocksize=(2, 6)), S.tobsr((2, 6)))
    assert_same_bsr(ms.bsr_array(B, blocksize=(2, 6)).astype(mx.float64), S.tobsr((2, 6)))


def test_empty_and_copy():
    E = ms.bsr_array((4, 6), blocksize=(2, 3))
    assert E.nnz == 0 and E.blocksize == (2, 3) and E.data.shape == (0, 2, 3)
    np.testing.assert_array_equal(E.toarray(), np.zeros((4, 6)))
    np.testing.assert_array_equal(np.array(E @ mx.ones((6, 2))), np.zeros((4, 2)))
    assert E.T.shape == (6, 4) and E.T.blocksize == (3, 2)
    B = ms.bsr_array(random_bsr((2, 2), (2, 2), density=1.0), dtype=F32)
    Bc = B.copy()
    Bc.data = Bc.data * 0
    assert np.abs(B.toarray()).sum() > 0 and np.abs(Bc.toarray()).sum() == 0


# ---- conversions

@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=str)
def test_transpose(blocksize):
    S = random_bsr((3, 5), blocksize, seed=7)
    B = ms.bsr_array(S)
    T = B.T
    assert T.blocksize == blocksize[::-1] and T.shape == S.shape[::-1]
    assert_same_bsr(T, S.T.tocsr().tobsr(blocksize[::-1]))  # scipy's canonical transpose
    np.testing.assert_array_equal(B.transpose().T.toarray(), S.toarray())


def test_astype_with_data_and_flags():
    S = random_bsr((3, 4), (2, 2), seed=8)
    B = ms.bsr_array(S)
    H = B.astype(np.float16, index_dtype=np.int64)
    assert H.dtype == mx.float16 and H.index_dtype == mx.int64
    np.testing.assert_array_equal(H.toarray(), rounded(S.toarray(), mx.float16))
    V = B.with_data(2 * B.data)
    np.testing.assert_array_equal(V.toarray(), 2 * S.toarray())
    assert V._cache is B._cache  # one pattern, one structure cache
    np.testing.assert_array_equal((-B).toarray(), -S.toarray())
    np.testing.assert_array_equal((B * 3).toarray(), 3 * S.toarray())
    np.testing.assert_array_equal((B / 2).toarray(), S.toarray() / 2)
    assert B.has_canonical_format and B.has_sorted_indices
    assert "blocksize=(2, 2)" in repr(B) and repr(B).startswith("BSRArray(shape=(6, 8)")


# ---- products against scipy

@pytest.fixture(params=[(1, 1), (2, 3), (4, 4)], ids=str)
def pair(request):
    S = random_bsr((5, 3), request.param, seed=9)
    return ms.bsr_array(S, dtype=F32), S.astype(np.float64)


def test_matvec_and_matmat(pair):
    B, S = pair
    n = S.shape[1]
    x, X, Xb = rand((n,), 1, F32), rand((n, 4), 2, F32), rand((3, n, 4), 3, F32)
    assert_close(B @ to_mx(x), S @ x, F32)
    assert_close(B @ to_mx(X), S @ X, F32)
    assert_close(B @ to_mx(Xb), np.stack([S @ Xi for Xi in Xb]), F32)
    assert_close(ms.matmul(B, X), S @ X, F32)  # numpy operand
    assert_close(B.dot(to_mx(x)), S @ x, F32)


def test_dense_at_bsr(pair):
    B, S = pair
    m = S.shape[0]
    y, Y = rand((m,), 4, F32), rand((2, 3, m), 5, F32)
    assert_close(ms.matmul(to_mx(y), B), y @ S.toarray(), F32)
    assert_close(ms.matmul(to_mx(Y), B), Y @ S.toarray(), F32)
    assert_close(Y[0] @ B, Y[0] @ S.toarray(), F32)  # numpy on the left defers to B


def test_bsr_at_bsr_and_csr(pair):
    B, S = pair
    R, C = S.blocksize
    S2 = random_bsr((S.shape[1] // C, 2), (C, 5), seed=10)
    P = B @ ms.bsr_array(S2, dtype=F32)
    ref = S @ S2
    assert isinstance(P, ms.BSRArray) and P.blocksize == (R, 5) == ref.blocksize
    assert P.nnz == ref.nnz  # scipy's block pattern
    assert_close(P.todense(), ref.toarray(), F32)
    # blocksizes that do not line up: a CSRArray
    S3 = random_bsr((S.shape[1], 2), (1, 3), seed=11)
    Q = B @ ms.bsr_array(S3, dtype=F32)
    assert isinstance(Q, ms.CSRArray) if C != 1 else isinstance(Q, ms.BSRArray)
    assert_close(Q.todense(), (S @ S3).toarray(), F32)
    # with a CSRArray, on either side: a CSRArray
    Sc = sp.random(S.shape[1], 7, density=0.3, random_state=12, format="csr")
    M = B @ ms.csr_array(Sc, dtype=F32)
    assert isinstance(M, ms.CSRArray)
    assert_close(M.todense(), (S @ Sc).toarray(), F32)
    N = ms.csr_array(Sc.T.tocsr(), dtype=F32) @ B.T
    assert isinstance(N, ms.CSRArray)
    assert_close(N.todense(), (Sc.T @ S.T).toarray(), F32)
    assert_close((B @ S2.tocsr()).todense(), ref.toarray(), F32)  # a scipy operand
    assert isinstance(B @ S2, ms.BSRArray)  # a scipy BSR operand stays BSR
    assert_close((B @ S2).todense(), ref.toarray(), F32)


def test_dimension_mismatch_names_the_op(pair):
    B, S = pair
    with pytest.raises(ValueError, match=r"\[csr_spgemm\] dimension mismatch"):
        B @ B if S.shape[0] != S.shape[1] else B @ ms.bsr_array((S.shape[1] + 1, 2))
    with pytest.raises(ValueError, match=r"\[(bsr|csr)_spmm\]"):  # the block kernel on the CPU
        B @ mx.ones((S.shape[1] + 1, 2))


# ---- gradients, compile, trees

def test_gradients_match_dense_reference(pair):
    B, S = pair
    X = to_mx(rand((S.shape[1], 3), 13, F32))
    Y = to_mx(rand((2, S.shape[0]), 14, F32))
    D = to_mx(S.toarray())

    def loss(v, X):
        A = B.with_data(v)
        return mx.square(A @ X).sum() + (ms.matmul(Y, A) * 0.5).sum() + mx.square(A.T.todense()).sum()

    def dense_loss(D, X):
        return mx.square(D @ X).sum() + (Y @ D * 0.5).sum() + mx.square(D.T).sum()

    dv, dX = mx.grad(loss, argnums=(0, 1))(B.data, X)
    dD, dX_ref = mx.grad(dense_loss, argnums=(0, 1))(D, X)
    R, C = S.blocksize
    brows = np.repeat(np.arange(S.indptr.size - 1), np.diff(S.indptr))
    blocks = np.array(dD).reshape(S.shape[0] // R, R, S.shape[1] // C, C).transpose(0, 2, 1, 3)
    assert_close(dv, blocks[brows, S.indices], F32, rtol=DENSE_RTOL)
    assert_close(dX, dX_ref, F32, rtol=DENSE_RTOL)


def test_gradient_finite_differences():
    S = random_bsr((2, 2), (2, 3), density=0.8, seed=15)
    B = ms.bsr_array(S, dtype=mx.float64)
    X = mx.array(rand((6, 2), 16), dtype=mx.float64)
    # polynomial (MLX's float64 sin is float32-accurate on the CPU)
    f = lambda v: mx.sum(mx.square(B.with_data(v) @ X)) * (B.with_data(v).T @ mx.ones((4,), mx.float64)).sum()
    v = B.data
    g = np.array(mx.grad(f)(v))
    eps, h = np.zeros(v.shape), 1e-5
    for i in [(0, 0, 0), (0, 1, 2), (B.nnzb - 1, 1, 1)]:
        eps[:] = 0
        eps[i] = h
        step = mx.array(eps, dtype=mx.float64)
        fd = (f(v + step).item() - f(v - step).item()) / (2 * h)
        assert abs(g[i] - fd) < 1e-7 * max(1.0, abs(fd))


def test_vmap_over_values_shares_one_pattern():
    """Values of shape (batch, nnzb, R, C) on one pattern: mx.vmap over with_data."""
    S = random_bsr((3, 4), (2, 2), seed=20)
    B = ms.bsr_array(S, dtype=F32)
    V = mx.stack([B.data, 2 * B.data, -B.data])
    x = rand((8,), 21, F32)
    y = mx.vmap(lambda v: B.with_data(v) @ to_mx(x))(V)
    assert_close(y, np.stack([S @ x, 2 * (S @ x), -(S @ x)]), F32)
    D = mx.vmap(lambda v: B.with_data(v).T.todense())(V)
    assert_close(D[1], 2 * S.toarray().T, F32)


def test_elementwise_with_csr_goes_through_csr():
    S = random_bsr((3, 4), (2, 2), seed=22)
    B, A = ms.bsr_array(S, dtype=F32), ms.csr_array(S.tocsr(), dtype=F32)
    assert isinstance(A + B, ms.CSRArray) and isinstance(B + A, ms.CSRArray)
    assert_close((A + B).todense(), 2 * S.toarray(), F32)
    assert_close(A.multiply(B).todense(), S.toarray() ** 2, F32)


def test_tree_grad_and_compile():
    S = random_bsr((3, 3), (2, 2), seed=17)
    B = ms.bsr_array(S, dtype=F32)
    X = to_mx(rand((6, 2), 18, F32))
    assert [k for k, _ in tree_flatten(B)] == ["data"]
    assert mx.array_equal(tree_map(lambda a: 2 * a, B)["data"], 2 * B.data)
    g = mx.grad(lambda A: (A @ X).sum())(B)  # the values are the tree's only leaf
    assert set(g) == {"data"} and g["data"].shape == B.data.shape
    mx.eval(B)  # evaluates the values
    f = mx.compile(lambda v, X: B.with_data(v) @ X)
    assert_close(f(B.data, X), S @ np.array(X), F32)
    assert_close(f(2 * B.data, X), 2 * (S @ np.array(X)), F32)
    gc = mx.compile(mx.grad(lambda v: mx.square(B.with_data(v).todense()).sum()))
    assert_close(gc(B.data), 2 * S.data, F32)
    h = mx.compile(lambda X: B.T @ X)  # B captured, a constant of the graph
    assert_close(h(X), S.T @ np.array(X), F32)
    # as for CSRArray, mx.compile rebuilds dict arguments as plain dicts (documented)
    with pytest.raises(TypeError):
        mx.compile(lambda A, X: A @ X)(B, X)


def test_savez_load(tmp_path):
    B = ms.bsr_array(random_bsr((3, 2), (2, 3), seed=19), dtype=mx.bfloat16)
    A = ms.csr_array(sp.random(4, 4, density=0.5, random_state=0, dtype=np.float32))
    ms.savez(tmp_path / "f.npz", b=B, a=A, x=mx.ones(3))
    got = ms.load(tmp_path / "f.npz")
    assert isinstance(got["b"], ms.BSRArray) and isinstance(got["a"], ms.CSRArray)
    assert got["b"].dtype == mx.bfloat16 and got["b"].blocksize == (2, 3)
    np.testing.assert_array_equal(got["b"].toarray(), B.toarray())
    ms.save_safetensors(str(tmp_path / "f.safetensors"), {"b": B})
    np.testing.assert_array_equal(ms.load(str(tmp_path / "f.safetensors"))["b"].toarray(), B.toarray())
    with pytest.raises(TypeError, match=r"\[save_npz\] expected a CSRArray, got BSRArray"):
        ms.save_npz(tmp_path / "g.npz", B)


def test_base_class():
    B = ms.bsr_array(np.eye(4), blocksize=(2, 2))
    A = ms.csr_array(np.eye(4))
    assert isinstance(B, ms.SparseArray) and isinstance(A, ms.SparseArray)
    assert B.format == "bsr" and A.format == "csr" and B.ndim == 2
    assert type(A).__matmul__ is type(B).__matmul__ is ms.SparseArray.__matmul__  # one `@`


# ---- bad input, each error naming the op

def test_bad_input_names_the_op():
    data = np.ones((2, 2, 2))
    bad = [
        (ValueError, r"not divisible by blocksize", lambda: ms.bsr_array((data, [0, 1], [0, 1, 2]), shape=(4, 5))),
        (ValueError, r"index pointer size 2 should be 3", lambda: ms.bsr_array((data, [0, 1], [0, 2]), shape=(4, 4))),
        (ValueError, r"should not decrease", lambda: ms.bsr_array((data, [0, 1], [0, 2, 1, 2]), shape=(6, 4))),
        (ValueError, r"block column index 2 is out of range for 2 block columns",
         lambda: ms.bsr_array((data, [0, 2], [0, 1, 2]), shape=(4, 4))),
        (ValueError, r"index pointer should start with 0", lambda: ms.bsr_array((data, [0, 1], [1, 1, 2]), shape=(4, 4))),
        (ValueError, r"last value of index pointer", lambda: ms.bsr_array((data, [0, 1], [0, 1, 1]), shape=(4, 4))),
        (ValueError, r"same number of blocks", lambda: ms.bsr_array((data, [0], [0, 1, 1]), shape=(4, 4))),
        (ValueError, r"data must have shape \(nnzb, R, C\), got \(4,\)", lambda: ms.bsr_array((np.ones(4), [0], [0, 1]))),
        (ValueError, r"data must have shape \(nnzb, R, C\), got \(2, 3, 1, 2, 2\)",
         lambda: ms.bsr_array((np.ones((2, 3, 1, 2, 2)), [0], [0, 1]))),
        (ValueError, r"blocksize \(3, 3\) does not match", lambda: ms.bsr_array((data, [0, 1], [0, 1, 2]), blocksize=(3, 3))),
        (TypeError, r"indices must hold integers", lambda: ms.bsr_array((data, [0.5, 1], [0, 1, 2]))),
        (TypeError, r"complex values", lambda: ms.bsr_array((data * 1j, [0, 1], [0, 1, 2]))),
        (ValueError, r"not divisible by blocksize", lambda: ms.bsr_array(np.eye(4), blocksize=(3, 1))),
        (ValueError, r"blocksize must be positive", lambda: ms.bsr_array(np.eye(4), blocksize=(0, 1))),
        (TypeError, r"blocksize must be a pair", lambda: ms.bsr_array(np.eye(4), blocksize=2)),
        (ValueError, r"expected a 2-D dense array or a batch", lambda: ms.bsr_array(np.ones(4), blocksize=(1, 1))),
        (TypeError, r"dtype must be one of", lambda: ms.bsr_array(np.eye(4), blocksize=(2, 2), dtype="int8")),
        (ValueError, r"expected \(data, indices, indptr\)", lambda: ms.bsr_array((1, 2, 3, 4))),
        (ValueError, r"shape \(5, 5\) does not match", lambda: ms.bsr_array(sp.eye(4).tobsr(), shape=(5, 5))),
    ]
    for exc, msg, make in bad:
        with pytest.raises(exc, match=r"\[bsr_array\] .*" + msg):
            make()


def test_dict_protocol_refused():
    B = ms.bsr_array(np.eye(4), blocksize=(2, 2))
    with pytest.raises(TypeError, match=r"\[bsr_array\] item assignment"):
        B["indices"] = B.indices
    with pytest.raises(ValueError, match=r"\[bsr_array\] data must be an mx.array of shape \(\.\.\., 2, 2, 2\)"):
        B["data"] = mx.ones((2, 2))
    with pytest.raises(TypeError, match=r"\[bsr_array\]"):
        B.update(x=1)
    with pytest.raises(NotImplementedError, match=r"\[bsr_array\] indexing"):
        B[0]
    np.testing.assert_array_equal((B == B).toarray(), np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"\[bsr_array\] values must have shape \(2, 2, 2\)"):
        B.with_data(mx.ones((8,)))
    with pytest.raises(ValueError, match=r"\[bsr_transpose\] axes"):
        B.transpose((0, 1))
    # a non-scalar product goes through the CSR form
    np.testing.assert_array_equal((B * mx.full((4, 4), 2.0)).toarray(), 2 * np.eye(4))
    with pytest.raises(TypeError, match=r"\[bsr_array\] numpy.concatenate does not take a BSRArray"):
        np.concatenate([B, B])
    with pytest.raises(TypeError):
        len(B)
    assert list(dict.keys(B)) == ["data"]


# ---- a batch of matrices with one block pattern, (B, M, N)
def batched_dense(B=3, grid=(4, 6), blocksize=(2, 3), seed=7):
    rng = np.random.default_rng(seed)
    (mb, nb), (R, C) = grid, blocksize
    kept = rng.random((B, mb, nb)) < 0.4
    kept[:, 0, 0] = False  # a block absent from the whole batch stays absent
    return (np.kron(kept, np.ones((R, C))) * rng.standard_normal((B, mb * R, nb * C))).astype(np.float32)


def test_batched_construction_forms():
    D = batched_dense()
    A = ms.bsr_array(D, blocksize=(2, 3))
    assert A.shape == (3, 8, 18) and A.ndim == 3 and A.data.shape == (3, A.nnzb, 2, 3)
    union = (D != 0).any(axis=0)
    assert A.nnzb == sp.bsr_array(union.astype(np.float32), blocksize=(2, 3)).indices.size
    assert A.nnz == 3 * A.nnzb * 6
    np.testing.assert_array_equal(np.array(A.todense()), D)
    for b in range(3):
        np.testing.assert_array_equal(A[b].toarray(), D[b])
        assert A[b].shape == (8, 18) and A[b - 3].shape == (8, 18)
    parts = ms.bsr_array((A.data, A.indices, A.indptr))
    assert parts.shape == A.shape
    np.testing.assert_array_equal(np.array(ms.bsr_array((A.data, A.indices, A.indptr), shape=(3, 8, 18)).todense()), D)
    E = ms.bsr_array((2, 4, 6), blocksize=(2, 3))
    assert E.shape == (2, 4, 6) and E.data.shape == (2, 0, 2, 3)
    np.testing.assert_array_equal(np.array(E.todense()), np.zeros((2, 4, 6)))
    import pickle

    P = pickle.loads(pickle.dumps(A.astype(mx.bfloat16)))
    assert P.shape == A.shape and P.dtype == mx.bfloat16
    np.testing.assert_array_equal(np.array(P.todense().astype(mx.float32)),
                                  np.array(A.todense().astype(mx.bfloat16).astype(mx.float32)))


@pytest.mark.parametrize("operand", ["vector", "matrix", "batched", "left", "left_batched"])
def test_batched_products(operand):
    D = batched_dense()
    A = ms.bsr_array(D, blocksize=(2, 3))
    rng = np.random.default_rng(1)
    x = {"vector": (18,), "matrix": (18, 5), "batched": (3, 18, 5), "left": (4, 8),
         "left_batched": (3, 4, 8)}[operand]
    x = rng.standard_normal(x).astype(np.float32)
    if operand.startswith("left"):
        got, ref = ms.matmul(mx.array(x), A), x @ D
    else:
        got, ref = A @ mx.array(x), np.stack([D[b] @ (x[b] if x.ndim == 3 else x) for b in range(3)])
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-5, atol=1e-5)
    # gradients to the blocks and to the dense operand, against the dense batch
    def loss_sparse(d, y):
        out = A.with_data(d) @ y if not operand.startswith("left") else ms.matmul(y, A.with_data(d))
        return mx.sum(mx.sin(out))

    def loss_dense(w, y):
        return mx.sum(mx.sin(w @ y if not operand.startswith("left") else y @ w))

    gd, gx = mx.grad(loss_sparse, argnums=(0, 1))(A.data, mx.array(x))
    gw, gx_ref = mx.grad(loss_dense, argnums=(0, 1))(A.todense(), mx.array(x))
    np.testing.assert_allclose(np.array(gx), np.array(gx_ref), rtol=1e-4, atol=1e-5)
    stored = np.array(A.with_data(mx.ones_like(A.data)).todense())  # the pattern, 1 where stored
    np.testing.assert_allclose(np.array(A.with_data(gd).todense()), np.array(gw) * stored,
                               rtol=1e-4, atol=1e-5)


def test_batched_transpose_astype_compile():
    D = batched_dense(B=2)
    A = ms.bsr_array(D, blocksize=(2, 3))
    T = A.T
    assert T.shape == (2, 18, 8) and T.blocksize == (3, 2)
    np.testing.assert_array_equal(np.array(T.todense()), D.transpose(0, 2, 1))
    assert A.transpose((0, 2, 1)).shape == T.shape
    H = A.astype("float16", index_dtype="int64")
    assert H.dtype == mx.float16 and H.index_dtype == mx.int64 and H.shape == A.shape
    X = mx.array(np.random.default_rng(2).standard_normal((2, 18, 4)).astype(np.float32))
    f = mx.compile(lambda d, x: A.with_data(d) @ x)
    np.testing.assert_allclose(np.array(f(A.data, X)), D @ np.array(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (lambda A: A.tocsr(), r"\[bsr_array\] a batch of matrices \(shape \(3, 8, 18\)\) has no CSR form"),
    (lambda A: A.toscipy(), r"has no scipy form"),
    (lambda A: A.tobsr((1, 1)), r"has no other blocksize"),
    (lambda A: A @ A.T, r"\[matmul\] a batch of BSR matrices times a sparse array"),
    (lambda A: A @ mx.ones((2, 18, 4)), r"\[matmul\] a batch of 3 matrices .* its batch must be 3"),
    (lambda A: A @ mx.ones((1, 3, 18, 4)), r"\[matmul\] .* at most 3 dims"),
    (lambda A: A[3], r"\[bsr_array\] batch index 3 is out of range"),
    (lambda A: A[0, 1], r"\[bsr_array\] a batched BSRArray is indexed by one batch entry"),
    (lambda A: A.transpose((1, 0)), r"\[bsr_transpose\] axes must be None or \(0, 2, 1\)"),
    (lambda A: ms.bsr_array((A.data, A.indices, A.indptr), shape=(8, 18)), r"does not match data of shape"),
    (lambda A: ms.bsr_array((A.data[0], A.indices, A.indptr), shape=(3, 8, 18)), r"does not match data"),
    (lambda A: A.with_data(A.data[0]), r"values must have shape \(3, 20, 2, 3\)"),
])
def test_batched_errors(bad, match):
    A = ms.bsr_array(batched_dense(), blocksize=(2, 3))
    assert A.nnzb == 20
    with pytest.raises((ValueError, TypeError, IndexError, NotImplementedError), match=match):
        bad(A)
