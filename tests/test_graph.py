"""Graph and matrix helpers against scipy / numpy: eye, diags, random, from_edge_index,
normalize_adjacency; and the Planetoid loader on the real Cora and CiteSeer files."""

import shutil

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import assert_close, to_np


@pytest.mark.parametrize("shape,k", [((4, 4), 0), ((4, 6), 1), ((6, 4), -2), ((3, 5), 4), ((0, 3), 0)])
def test_eye(shape, k):
    E = ms.eye(*shape, k=k)
    assert E.shape == shape and E.has_canonical_format
    np.testing.assert_array_equal(E.toarray(), sp.eye_array(*shape, k=k).toarray())


def test_diags_matches_scipy():
    D = ms.diags([[1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], [0, -1, 2], shape=(3, 4))
    ref = sp.diags_array([[1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], offsets=[0, -1, 2], shape=(3, 4))
    np.testing.assert_array_equal(D.toarray(), ref.toarray())
    np.testing.assert_array_equal(ms.diags([1.0, 2.0]).toarray(), np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(ms.diags(2.0, 1, shape=(3, 3)).toarray(),
                                  sp.diags_array([2.0, 2.0], offsets=1, shape=(3, 3)).toarray())


def test_diags_keeps_gradient():
    v = mx.array([1.0, 2.0, 3.0])
    g = mx.grad(lambda d: (ms.diags(d) @ mx.array([1.0, 10.0, 100.0])).sum())(v)
    np.testing.assert_allclose(np.array(g), [1.0, 10.0, 100.0])


def test_diags_errors():
    with pytest.raises(ValueError, match=r"\[diags\] 2 diagonals but 1 offsets"):
        ms.diags([[1.0], [2.0]], [0])
    with pytest.raises(ValueError, match=r"\[diags\] diagonal 0 needs 3 values"):
        ms.diags([1.0, 2.0], 0, shape=(3, 3))


@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 1.0])
def test_random(density):
    R = ms.random(40, 25, density, seed=3)
    assert R.shape == (40, 25) and R.nnz == round(density * 1000)
    assert R.has_canonical_format
    R.check_format(full_check=True)
    vals = to_np(R.data)
    assert ((vals >= 0) & (vals < 1)).all()
    np.testing.assert_array_equal(ms.random(40, 25, density, seed=3).toarray(), R.toarray())
    if 0 < density < 1:
        assert not np.array_equal(ms.random(40, 25, density, seed=4).toarray(), R.toarray())
    with pytest.raises(ValueError, match=r"\[random\] density"):
        ms.random(3, 3, 1.5)


def test_from_edge_index_sums_repeated_edges():
    ei = np.array([[0, 1, 1, 2, 0], [1, 0, 2, 1, 1]])
    A = ms.from_edge_index(ei, 4)
    ref = sp.coo_array((np.ones(5), (ei[0], ei[1])), shape=(4, 4)).toarray()
    np.testing.assert_array_equal(A.toarray(), ref)
    v = mx.array([1.0, 2.0, 3.0, 4.0, 5.0])
    g = mx.grad(lambda w: ms.from_edge_index(ei, 4, values=w).sum(axis=1).sum())(v)
    np.testing.assert_allclose(np.array(g), np.ones(5))
    with pytest.raises(ValueError, match=r"\[from_edge_index\] node ids must be in \[0, 2\)"):
        ms.from_edge_index(ei, 2)
    with pytest.raises(ValueError, match=r"\[from_edge_index\] edge_index must have shape \(2, E\)"):
        ms.from_edge_index(ei.T, 4)


@pytest.mark.parametrize("self_loops", [True, False])
def test_normalize_adjacency(self_loops):
    rng = np.random.default_rng(5)
    D = (rng.random((9, 9)) < 0.3).astype(np.float64)
    D = np.maximum(D, D.T)
    np.fill_diagonal(D, 0)
    D[4, :] = D[:, 4] = 0  # an isolated node
    A = ms.csr_array(D, dtype=mx.float32)
    M = D + np.eye(9) if self_loops else D
    deg = M.sum(1)
    inv = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1e-30)), 0)
    ref = inv[:, None] * M * inv[None, :]
    assert_close(ms.normalize_adjacency(A, add_self_loops=self_loops).todense(), ref, mx.float32)


def test_planetoid_cora():
    g = ms.datasets.load_planetoid("Cora")  # the copy inside the package
    assert g.features.shape == (2708, 1433) and g.num_classes == 7
    assert g.adjacency.shape == (2708, 2708) and g.adjacency.nnz == 10556
    A = g.adjacency.toarray()
    np.testing.assert_array_equal(A, A.T)
    assert np.diag(A).sum() == 0
    assert [int(m.sum()) for m in (g.train_mask, g.val_mask, g.test_mask)] == [140, 500, 1000]
    assert not np.any(np.asarray(g.train_mask) & np.asarray(g.test_mask))
    np.testing.assert_array_equal(np.bincount(np.asarray(g.labels)), [351, 217, 418, 818, 426, 298, 180])
    sums = np.asarray(g.features.sum(axis=1))
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)  # row-normalised
    Ahat = g.normalized_adjacency.toarray()
    deg = A.sum(1) + 1
    np.testing.assert_allclose(Ahat, (A + np.eye(2708)) / np.sqrt(np.outer(deg, deg)), rtol=1e-5, atol=1e-7)


def test_planetoid_citeseer_isolated_test_nodes():
    g = ms.datasets.load_planetoid("citeseer", normalize_features=False)
    assert g.features.shape == (3327, 3703) and g.num_classes == 6
    assert [int(m.sum()) for m in (g.train_mask, g.val_mask, g.test_mask)] == [120, 500, 1000]
    assert g.adjacency.nnz == 9104
    # 15 test-range nodes have no features in the files: zero rows, outside every mask
    empty = np.asarray(g.features.sum(axis=1)) == 0
    masked = np.asarray(g.train_mask) | np.asarray(g.val_mask) | np.asarray(g.test_mask)
    assert empty.sum() >= 15 and not np.any(empty[2312:] & masked[2312:])


def test_planetoid_packaged_equals_explicit_root(tmp_path):
    """No root reads the packaged files; the same files under a root give the same arrays."""
    for f in ms.datasets.PACKAGED.glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name)
    packaged, rooted = ms.datasets.load_planetoid("cora"), ms.datasets.load_planetoid("cora", tmp_path)
    assert packaged.num_nodes == 2708 and packaged.num_classes == 7
    assert [int(m.sum()) for m in (packaged.train_mask, packaged.val_mask, packaged.test_mask)] == [140, 500, 1000]
    for part in ("labels", "train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(getattr(packaged, part), getattr(rooted, part))
    for part in ("features", "adjacency", "normalized_adjacency"):
        a, b = getattr(packaged, part).toscipy(), getattr(rooted, part).toscipy()
        assert a.shape == b.shape and (a != b).nnz == 0, part


def test_planetoid_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[load_planetoid\] missing file .*ind\.cora\.x"):
        ms.datasets.load_planetoid("cora", tmp_path)
    with pytest.raises(ValueError, match=r"\[load_planetoid\] unknown dataset 'imagenet'"):
        ms.datasets.load_planetoid("imagenet")
    with pytest.raises(FileNotFoundError, match=r"\[load_planetoid\] PubMed does not ship .* pass root="):
        ms.datasets.load_planetoid("PubMed")
    with pytest.raises(FileNotFoundError, match=r"\[load_planetoid\] missing file .*ind\.pubmed\.x"):
        ms.datasets.load_planetoid("pubmed", tmp_path)
