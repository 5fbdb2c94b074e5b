"""bsr_spmm and bsr_sddmm (the block CSR products; on a GPU test device their CUDA or Metal
kernels): against dense numpy in float64, gradients against mx.grad of a dense MLX reference,
compile, vmap, threads, bad input; and the paths that use them (BSRArray @ dense,
dense @ BSRArray, blocksparse.matmul)."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse import _ext
from mlx_sparse import blocksparse as bs
from conftest import (DENSE_RTOL, GPU_KERNELS, RTOL, assert_close, index_dtypes, rand, to_mx, to_np,
                      value_dtypes)

# float64 would stay on the CPU kernels (Metal and MLX's GPU have none): float32 on GPU devices,
# against references that may pass through mx.matmul (TF32 on CUDA)
WIDE = mx.float32 if GPU_KERNELS else mx.float64
WIDE_RTOL = (DENSE_RTOL or 1e-4) if GPU_KERNELS else None

BLOCKSIZES = [(1, 1), (2, 3), (16, 16), (32, 32), (64, 64)]
# (block rows, block columns, kind)
GRIDS = [(3, 5, "random"), (4, 3, "empty_rows"), (2, 3, "nnzb0"), (1, 1, "random"), (0, 3, "random"),
         (3, 0, "random")]


def pattern(mb, nb, kind="random", density=0.5, seed=0, itype=np.int32):
    """A block CSR pattern (indptr, indices, block row of each block), canonical."""
    mask = np.random.default_rng(seed).random((mb, nb)) < density
    if kind == "empty_rows":
        mask[::2] = False
        mask[1::2, 0] = True
    if kind == "nnzb0":
        mask[:] = False
    rows, cols = np.nonzero(mask)
    indptr = np.zeros(mb + 1, itype)
    np.cumsum(np.bincount(rows, minlength=mb), out=indptr[1:])
    return indptr, cols.astype(itype), rows


def dense_of(data, rows, cols, mb, nb):
    """The dense (mb * R, nb * C) float64 matrix of blocks data[e] at (rows[e], cols[e])."""
    R, C = data.shape[-2:]
    A = np.zeros((mb * R, nb * C))
    for e, (i, j) in enumerate(zip(rows, cols)):
        A[i * R:(i + 1) * R, j * C:(j + 1) * C] += data[e]
    return A


def blocks_of(D, rows, cols, R, C):
    """The (nnzb, R, C) blocks of the dense D at (rows[e], cols[e])."""
    out = np.zeros((len(rows), R, C))
    for e, (i, j) in enumerate(zip(rows, cols)):
        out[e] = D[i * R:(i + 1) * R, j * C:(j + 1) * C]
    return out


def gather_index(rows, cols, mb, nb, R, C):
    """For a dense MLX reference: flat index into [data.reshape(-1), 0] of each dense entry."""
    idx = np.full((mb * R, nb * C), len(rows) * R * C, np.int64)
    for e, (i, j) in enumerate(zip(rows, cols)):
        idx[i * R:(i + 1) * R, j * C:(j + 1) * C] = e * R * C + np.arange(R * C).reshape(R, C)
    return mx.array(idx.astype(np.int32))


def dense_mx(data, idx):
    flat = mx.concatenate([data.reshape(-1), mx.zeros((1,), data.dtype)])
    return mx.take(flat, idx)


def tol(dtype, k_terms):
    """Relative tolerance for sums of k_terms products rounded to dtype (float32 accumulation)."""
    return RTOL[dtype] * (1 if dtype in (mx.float16, mx.bfloat16) else max(1, k_terms) ** 0.5)


# ---- values against dense numpy

@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=str)
@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize("k", [1, 7, 48])
def test_bsr_spmm_matches_dense(blocksize, grid, k):
    (R, C), (mb, nb, kind) = blocksize, grid
    indptr, indices, rows = pattern(mb, nb, kind, seed=R + k)
    data = rand((len(indices), R, C), seed=k, dtype=mx.float32)
    X = rand((nb * C, k), seed=k + 1, dtype=mx.float32)
    Y = _ext.bsr_spmm(mx.array(indptr), mx.array(indices), to_mx(data), to_mx(X))
    assert Y.shape == (mb * R, k)
    assert_close(Y, dense_of(data, rows, indices, mb, nb) @ X, mx.float32, rtol=tol(mx.float32, nb * C))


@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=str)
@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize("k", [1, 7, 48])
def test_bsr_sddmm_matches_dense(blocksize, grid, k):
    (R, C), (mb, nb, kind) = blocksize, grid
    indptr, indices, rows = pattern(mb, nb, kind, seed=R + k)
    G = rand((mb * R, k), seed=k, dtype=mx.float32)
    B = rand((nb * C, k), seed=k + 1, dtype=mx.float32)
    S = _ext.bsr_sddmm(mx.array(indptr), mx.array(indices), to_mx(G), to_mx(B), R, C)
    assert S.shape == (len(indices), R, C)
    assert_close(S, blocks_of(G @ B.T, rows, indices, R, C), mx.float32, rtol=tol(mx.float32, k))


@value_dtypes
@index_dtypes
@pytest.mark.parametrize("blocksize", [(2, 3), (16, 16), (32, 32), (64, 64)], ids=str)
@pytest.mark.parametrize("k", [19, 136])
def test_dtypes(dtype, index_dtype, blocksize, k):
    """Every value and index type; k = 19 stages X value by value, k = 136 in 16-byte chunks
    with a partial second column tile (the GPU's tiled kernels take square 16, 32, 64)."""
    R, C = blocksize
    itype = np.int32 if index_dtype == mx.int32 else np.int64
    indptr, indices, rows = pattern(5, 4, seed=3, itype=itype)
    data = rand((len(indices), R, C), seed=1, dtype=dtype)
    X = rand((4 * C, k), seed=2, dtype=dtype)
    G = rand((5 * R, k), seed=3, dtype=dtype)
    ip, ix = mx.array(indptr), mx.array(indices)
    Y = _ext.bsr_spmm(ip, ix, to_mx(data, dtype), to_mx(X, dtype))
    S = _ext.bsr_sddmm(ip, ix, to_mx(G, dtype), to_mx(X, dtype), R, C)
    assert Y.dtype == dtype and S.dtype == dtype
    A = dense_of(data, rows, indices, 5, 4)
    assert_close(Y, A @ X, dtype, scale=np.abs(A) @ np.abs(X), rtol=tol(dtype, 4 * C))
    assert_close(S, blocks_of(G @ X.T, rows, indices, R, C), dtype, scale=np.abs(G) @ np.abs(X.T),
                 rtol=tol(dtype, k))


@pytest.mark.parametrize("k", [1000, 517])
def test_large_k_and_large_blocks(k):
    """Wide X (many column tiles, tails); sddmm's panels over chunks of k, with padded
    columns (13, 33), and its dot products for a block past the panels (70 x 70)."""
    large_rtol = tol(WIDE, k) if GPU_KERNELS else None
    for R, C in [(16, 16), (70, 70), (3, 64), (5, 13), (33, 33)]:
        indptr, indices, rows = pattern(3, 2, seed=k, density=0.7)
        data, X = rand((len(indices), R, C), seed=1), rand((2 * C, k), seed=2)
        G = rand((3 * R, k), seed=3)
        ip, ix = mx.array(indptr), mx.array(indices)
        Y = _ext.bsr_spmm(ip, ix, to_mx(data, WIDE), to_mx(X, WIDE))
        assert_close(Y, dense_of(data, rows, indices, 3, 2) @ X, WIDE, rtol=large_rtol)
        S = _ext.bsr_sddmm(ip, ix, to_mx(G, WIDE), to_mx(X, WIDE), R, C)
        assert_close(S, blocks_of(G @ X.T, rows, indices, R, C), WIDE, rtol=large_rtol)


def test_batch_broadcasts():
    """Leading dims of data and of the dense operands are batch dims that broadcast."""
    R, C = 2, 3
    indptr, indices, rows = pattern(4, 3, seed=5)
    ip, ix = mx.array(indptr), mx.array(indices)
    data = rand((2, len(indices), R, C), seed=1)
    X = rand((3 * C, 5), seed=2)
    Xb = rand((2, 3 * C, 5), seed=3)
    Y = _ext.bsr_spmm(ip, ix, to_mx(data), to_mx(X))
    assert_close(Y, np.stack([dense_of(d, rows, indices, 4, 3) @ X for d in data]))
    Y = _ext.bsr_spmm(ip, ix, to_mx(data[0]), to_mx(Xb))
    assert_close(Y, np.stack([dense_of(data[0], rows, indices, 4, 3) @ x for x in Xb]))
    G = rand((2, 4 * R, 5), seed=4)
    S = _ext.bsr_sddmm(ip, ix, to_mx(G), to_mx(X), R, C)
    assert_close(S, np.stack([blocks_of(g @ X.T, rows, indices, R, C) for g in G]))



@value_dtypes
@index_dtypes
@pytest.mark.parametrize("bsz", [16, 32, 64])
@pytest.mark.parametrize("k", [5, 141])
def test_square_blocks(dtype, index_dtype, bsz, k):
    """The block sizes of the GPUs' tiled kernels in every value and index type: a batch, empty
    block rows, k not a multiple of 8 and past one tile of 128 columns."""
    itype = np.int32 if index_dtype == mx.int32 else np.int64
    indptr, indices, rows = pattern(4, 3, "empty_rows", seed=bsz + k, itype=itype)
    ip, ix = mx.array(indptr), mx.array(indices)
    data = rand((2, len(indices), bsz, bsz), seed=1, dtype=dtype)
    X = rand((2, 3 * bsz, k), seed=2, dtype=dtype)
    G = rand((2, 4 * bsz, k), seed=3, dtype=dtype)
    Y = _ext.bsr_spmm(ip, ix, to_mx(data, dtype), to_mx(X, dtype))
    S = _ext.bsr_sddmm(ip, ix, to_mx(G, dtype), to_mx(X[0], dtype), bsz, bsz)
    assert Y.dtype == dtype and S.dtype == dtype
    for b in range(2):
        A = dense_of(data[b], rows, indices, 4, 3)
        assert_close(Y[b], A @ X[b], dtype, scale=np.abs(A) @ np.abs(X[b]), rtol=tol(dtype, 3 * bsz))
        assert_close(S[b], blocks_of(G[b] @ X[0].T, rows, indices, bsz, bsz), dtype,
                     scale=np.abs(G[b]) @ np.abs(X[0].T), rtol=tol(dtype, k))

@pytest.mark.parametrize("n_threads", [1, 2])
def test_threads(n_threads):
    """Products large enough for the pool (and the serial path with 1 thread)."""
    before = ms.num_threads()
    ms.set_num_threads(n_threads)
    try:
        indptr, indices, rows = pattern(40, 30, kind="empty_rows", seed=9, density=0.2)
        R = C = 16
        data, X, G = rand((len(indices), R, C), seed=1), rand((30 * C, 70), seed=2), rand((40 * R, 70), seed=3)
        ip, ix = mx.array(indptr), mx.array(indices)
        A = dense_of(data, rows, indices, 40, 30)
        assert_close(_ext.bsr_spmm(ip, ix, to_mx(data), to_mx(X)), A @ X, rtol=1e-4)
        S = _ext.bsr_sddmm(ip, ix, to_mx(G), to_mx(X), R, C)
        assert_close(S, blocks_of(G @ X.T, rows, indices, R, C), rtol=1e-4)
    finally:
        ms.set_num_threads(before)


# ---- gradients, compile, vmap

def _spmm_case(R=2, C=3, k=4, seed=0):
    indptr, indices, rows = pattern(4, 3, kind="empty_rows", seed=seed)
    ip, ix = mx.array(indptr), mx.array(indices)
    data = to_mx(rand((len(indices), R, C), seed=1), WIDE)
    X = to_mx(rand((3 * C, k), seed=2), WIDE)
    idx = gather_index(rows, indices, 4, 3, R, C)
    return ip, ix, data, X, idx


@pytest.mark.parametrize("blocksize", [(1, 1), (2, 3), (16, 16)], ids=str)
def test_bsr_spmm_gradients(blocksize):
    ip, ix, data, X, idx = _spmm_case(*blocksize)
    W = to_mx(rand((4 * blocksize[0], 4), seed=7), WIDE)

    def ours(d, x):
        return (mx.sin(_ext.bsr_spmm(ip, ix, d, x)) * W).sum()

    def ref(d, x):
        return (mx.sin(dense_mx(d, idx) @ x) * W).sum()

    for got, want in zip(mx.grad(ours, (0, 1))(data, X), mx.grad(ref, (0, 1))(data, X)):
        assert_close(got, to_np(want), WIDE, rtol=WIDE_RTOL)
    # second derivative: d/d data of |d/dX|^2
    second = lambda f: mx.grad(lambda d, x: mx.square(mx.grad(f, 1)(d, x)).sum())(data, X)
    assert_close(second(ours), to_np(second(ref)), WIDE, rtol=WIDE_RTOL)
    # forward mode
    t = (mx.ones_like(data), mx.ones_like(X))
    jo = mx.jvp(lambda d, x: _ext.bsr_spmm(ip, ix, d, x), (data, X), t)[1][0]
    jr = mx.jvp(lambda d, x: dense_mx(d, idx) @ x, (data, X), t)[1][0]
    assert_close(jo, to_np(jr), WIDE, rtol=WIDE_RTOL)


@pytest.mark.parametrize("blocksize", [(1, 1), (2, 3), (16, 16)], ids=str)
def test_bsr_sddmm_gradients(blocksize):
    R, C = blocksize
    indptr, indices, rows = pattern(4, 3, kind="empty_rows", seed=1)
    ip, ix = mx.array(indptr), mx.array(indices)
    G = to_mx(rand((4 * R, 5), seed=1), WIDE)
    B = to_mx(rand((3 * C, 5), seed=2), WIDE)
    W = to_mx(rand((len(indices), R, C), seed=3), WIDE)
    # the reference samples the dense product with one take
    flat = np.zeros((len(indices), R, C), np.int64)
    for e, (i, j) in enumerate(zip(rows, indices)):
        flat[e] = (i * R + np.arange(R))[:, None] * (3 * C) + j * C + np.arange(C)[None, :]
    flat = mx.array(flat.astype(np.int32))

    def ours(g, b):
        return (mx.sin(_ext.bsr_sddmm(ip, ix, g, b, R, C)) * W).sum()

    def ref(g, b):
        return (mx.sin(mx.take((g @ b.T).reshape(-1), flat)) * W).sum()

    for got, want in zip(mx.grad(ours, (0, 1))(G, B), mx.grad(ref, (0, 1))(G, B)):
        assert_close(got, to_np(want), WIDE, rtol=WIDE_RTOL)
    second = lambda f: mx.grad(lambda g, b: mx.square(mx.grad(f, 0)(g, b)).sum(), 1)(G, B)
    assert_close(second(ours), to_np(second(ref)), WIDE, rtol=WIDE_RTOL)
    t = (mx.ones_like(G), mx.ones_like(B))
    jo = mx.jvp(lambda g, b: _ext.bsr_sddmm(ip, ix, g, b, R, C), (G, B), t)[1][0]
    jr = mx.jvp(lambda g, b: mx.take((g @ b.T).reshape(-1), flat), (G, B), t)[1][0]
    assert_close(jo, to_np(jr), WIDE, rtol=WIDE_RTOL)


def _transposed(indptr, indices, nb):
    return [mx.array(a) for a in ms._bsr.transpose_structure(indptr, indices, nb)]


def test_riding_transpose_is_used_by_the_gradients():
    """A^T's block structure given by the caller is what the gradients to B (bsr_sddmm) and
    X (bsr_spmm) read: right when it rides, right when it is absent (built per call), and
    visibly used (a wrong one of the right shapes changes only the gradient)."""
    R, C = 2, 3
    indptr, indices, rows = pattern(4, 3, kind="empty_rows", seed=1)
    ip, ix = mx.array(indptr), mx.array(indices)
    G = to_mx(rand((4 * R, 5), seed=1), mx.float64)
    B = to_mx(rand((3 * C, 5), seed=2), mx.float64)
    W = to_mx(rand((len(indices), R, C), seed=3), mx.float64)
    right = _transposed(indptr, indices, 3)
    wrong = [right[0], right[1], right[2][::-1]]  # the blocks of each column swapped around
    sddmm = lambda t: mx.grad(lambda b: (_ext.bsr_sddmm(ip, ix, G, b, R, C, t) * W).sum())(B)
    spmm = lambda t: mx.grad(lambda x: (_ext.bsr_spmm(ip, ix, W, x, t) * G[:, :1]).sum())(B)
    for grad in (sddmm, spmm):
        want = to_np(grad([]))
        assert_close(grad(right), want, mx.float64)
        assert not np.allclose(to_np(grad(wrong)), want)
    assert_close(_ext.bsr_sddmm(ip, ix, G, B, R, C, wrong),
                 to_np(_ext.bsr_sddmm(ip, ix, G, B, R, C)), mx.float64)
    ref = dense_of(to_np(W), rows, indices, 4, 3).T @ (to_np(G)[:, :1] * np.ones((1, 5)))
    assert_close(spmm(right), ref, mx.float64)
    with pytest.raises(ValueError, match=r"\[bsr_sddmm\] transposed must be csr_transpose"):
        _ext.bsr_sddmm(ip, ix, G, B, R, C, right[:2])


def test_compile():
    ip, ix, data, X, idx = _spmm_case()
    f = lambda d, x: mx.grad(lambda d, x: mx.square(_ext.bsr_spmm(ip, ix, d, x)).sum())(d, x)
    assert_close(mx.compile(f)(data, X), to_np(f(data, X)), WIDE, rtol=WIDE_RTOL)
    g = lambda a, b: _ext.bsr_sddmm(ip, ix, a, b, 2, 3)
    G = to_mx(rand((8, 4), seed=4), WIDE)
    assert_close(mx.compile(g)(G, X), to_np(g(G, X)), WIDE, rtol=WIDE_RTOL)


def test_vmap():
    ip, ix, data, X, idx = _spmm_case()
    V = mx.stack([data, 2 * data, -data])
    Y = mx.vmap(lambda d: _ext.bsr_spmm(ip, ix, d, X))(V)
    assert_close(Y, np.stack([to_np(dense_mx(d, idx) @ X) for d in V]), WIDE, rtol=WIDE_RTOL)
    Xs = mx.stack([X, X + 1])
    Y = mx.vmap(lambda x: _ext.bsr_spmm(ip, ix, data, x), in_axes=2, out_axes=2)(mx.moveaxis(Xs, 0, 2))
    ref = np.stack([to_np(dense_mx(data, idx) @ x) for x in Xs], axis=2)
    assert_close(Y, ref, WIDE, rtol=WIDE_RTOL)
    G = to_mx(rand((3, 8, 4), seed=4), WIDE)
    S = mx.vmap(lambda g: _ext.bsr_sddmm(ip, ix, g, X, 2, 3))(G)
    assert_close(S, np.stack([to_np(_ext.bsr_sddmm(ip, ix, g, X, 2, 3)) for g in G]), WIDE)


# ---- bad input

def test_bad_input_names_the_op():
    ip, ix, data, X, _ = _spmm_case()
    with pytest.raises(ValueError, match=r"\[bsr_spmm\] data must have shape"):
        _ext.bsr_spmm(ip, ix, data[0], X)
    with pytest.raises(ValueError, match=r"\[bsr_spmm\] dimension mismatch"):
        _ext.bsr_spmm(ip, ix, data, X[:-1])
    with pytest.raises(ValueError, match=r"\[bsr_spmm\]"):
        _ext.bsr_spmm(ip, ix.astype(mx.int64), data, X)
    with pytest.raises(ValueError, match=r"\[bsr_spmm\]"):
        _ext.bsr_spmm(ip, ix, data.astype(mx.complex64), X)
    with pytest.raises(ValueError, match=r"\[bsr_spmm\] transposed"):
        _ext.bsr_spmm(ip, ix, data, X, [ip])
    with pytest.raises(ValueError, match=r"\[bsr_sddmm\] the block size"):
        _ext.bsr_sddmm(ip, ix, X, X, 0, 3)
    with pytest.raises(ValueError, match=r"\[bsr_sddmm\] dimension mismatch"):
        _ext.bsr_sddmm(ip, ix, X, X, 2, 3)
    with pytest.raises(ValueError, match=r"\[bsr_spmm\] indptr and indices"):
        _ext.bsr_spmm(ip, ix.astype(mx.float32), data, X)


@pytest.mark.parametrize("bsz", [2, 16])
def test_unchecked_block_columns_are_skipped(bsz):
    """A block column outside [0, Nb) (a structure nobody validated) adds nothing to bsr_spmm
    and is a zero block of bsr_sddmm: the CSR rule of ops.h, no read out of bounds."""
    indptr = mx.array(np.array([0, 2, 3], np.int32))
    indices = mx.array(np.array([0, 99, -1], np.int32))
    data, X, G = rand((3, bsz, bsz), seed=1), rand((2 * bsz, 3), seed=2), rand((2 * bsz, 3), seed=3)
    Y = _ext.bsr_spmm(indptr, indices, to_mx(data), to_mx(X))
    ref = np.zeros((2 * bsz, 3))
    ref[:bsz] = data[0] @ X[:bsz]
    assert_close(Y, ref)
    S = to_np(_ext.bsr_sddmm(indptr, indices, to_mx(G), to_mx(X), bsz, bsz))
    assert_close(S[0], G[:bsz] @ X[:bsz].T)
    assert np.all(S[1:] == 0)


# ---- the paths that use the kernels

@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    for name in ("bsr_spmm", "bsr_sddmm"):
        real = getattr(_ext, name)
        monkeypatch.setattr(_ext, name, lambda *a, _real=real, _n=name, **k: calls.append(_n) or _real(*a, **k))
    return calls


@pytest.mark.parametrize("blocksize", [(2, 3), (16, 16)], ids=str)
def test_bsr_array_products_use_the_kernel(kernel_calls, blocksize):
    R, C = blocksize
    S = sp.random(5, 4, density=0.5, random_state=2, format="csr")
    S = sp.bsr_array(sp.kron(S, np.ones((R, C))).toarray() * rand((5 * R, 4 * C), seed=1),
                     blocksize=blocksize)
    B = ms.bsr_array(S, dtype=mx.float32)
    X, x, Y = rand((4 * C, 6), seed=2), rand((4 * C,), seed=3), rand((3, 5 * R), seed=4)
    assert_close(B @ to_mx(X), S @ X)
    assert_close(B @ to_mx(x), S @ x)
    assert_close(ms.matmul(to_mx(Y), B), Y @ S.toarray())  # mx.array @ does not defer
    assert_close(ms.matmul(to_mx(Y[0]), B), Y[0] @ S.toarray())
    assert kernel_calls.count("bsr_spmm") == 4
    # a batch of matrices maps the kernel over the batch (its vmap rule)
    Bb = ms.bsr_array((mx.stack([B.data, -2 * B.data]), B.indices, B.indptr), shape=(2, *S.shape))
    assert_close(Bb @ to_mx(X), np.stack([S @ X, -2 * (S @ X)]))
    g = mx.grad(lambda d: (B.with_data(d) @ to_mx(X)).sum())(B.data)
    gr = mx.grad(lambda d: (B.with_data(d).todense() @ to_mx(X)).sum())(B.data)
    assert_close(g, to_np(gr), rtol=DENSE_RTOL)  # the reference is mx.matmul (TF32 on CUDA)
    with pytest.raises(ValueError, match=r"\[bsr_spmm\] dimension mismatch"):
        B @ mx.ones((4 * C + C, 2))


@pytest.mark.parametrize("form", ["dsd", "sdd", "sparse_x_dense"])
def test_blocksparse_matmul_uses_the_kernels(kernel_calls, form):
    bsz, B, Mb, Kb, Nb = 16, 2, 3, 4, 2
    rng = np.random.default_rng(1)
    full = lambda *s: np.ones(s, bool)
    lx = rng.random((B, Mb, Kb)) < 0.5 if form != "sdd" else full(B, Mb, Kb)
    ly = full(B, Kb, Nb)
    lo = full(B, Mb, Nb) if form == "dsd" else rng.random((B, Mb, Nb)) < 0.5
    xd = rand((B, Mb * bsz, Kb * bsz), seed=1) * np.kron(lx, np.ones((bsz, bsz)))
    yd = rand((B, Kb * bsz, Nb * bsz), seed=2)
    x = bs.to_sparse(to_mx(xd), mx.array(lx), bsz)
    y = bs.to_sparse(to_mx(yd), mx.array(ly), bsz)
    out = bs.matmul(x, mx.array(lx), y, mx.array(ly), mx.array(lo), bsz)
    dense = bs.to_dense(out, mx.array(lo), bsz)
    assert_close(dense, (xd @ yd) * np.kron(lo, np.ones((bsz, bsz))), rtol=1e-4)
    assert kernel_calls == ["bsr_sddmm" if form == "sdd" else "bsr_spmm"]
    f = lambda a, b: mx.square(bs.matmul(a, mx.array(lx), b, mx.array(ly), mx.array(lo), bsz)).sum()
    got = mx.grad(f, (0, 1))(x, y)
    with _mlx_op_path():
        want = mx.grad(f, (0, 1))(x, y)
    for g, w in zip(got, want):
        assert_close(g, to_np(w), rtol=DENSE_RTOL or 1e-4)


class _mlx_op_path:
    """Within: blocksparse.matmul takes its MLX-op path (the reference for the kernels)."""

    def __enter__(self):
        import mlx_sparse.blocksparse._matmul as m
        self._m, self._real = m, m.bsr_kernels
        m.bsr_kernels = lambda stream=None: False

    def __exit__(self, *exc):
        self._m.bsr_kernels = self._real
