"""Datasets: the Planetoid citation graphs (Cora, CiteSeer, PubMed).

Cora and CiteSeer ship with the package (``mlx_sparse/data/planetoid``, with their licence
and citation); PubMed is read from a folder given as ``root``. Nothing is downloaded.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

from ._csr import CSRArray
from ._construct import csr_array
from ._graph import normalize_adjacency

PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")
PACKAGED = Path(__file__).resolve().parent / "data" / "planetoid"  # cora and citeseer


@dataclass
class Planetoid:
    """A Planetoid graph, split as in Kipf & Welling (2017).

    Attributes
    ----------
    features : CSRArray
        (N, F) bag-of-words features, sparse (row-normalised when loaded with
        ``normalize_features=True``).
    labels : mx.array
        (N,) int32 class of every node.
    adjacency : CSRArray
        (N, N) symmetric 0/1 adjacency, no self-loops.
    normalized_adjacency : CSRArray
        ``normalize_adjacency(adjacency, add_self_loops=True)``: D^-1/2 (A + I) D^-1/2.
    train_mask, val_mask, test_mask : mx.array
        (N,) bool masks of the standard split.
    num_classes : int
    """

    name: str
    features: CSRArray
    labels: mx.array
    adjacency: CSRArray
    normalized_adjacency: CSRArray
    train_mask: mx.array
    val_mask: mx.array
    test_mask: mx.array
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return self.labels.size


class _Unpickler(pickle.Unpickler):
    """The Planetoid pickles name scipy's old module paths (scipy.sparse.csr, ...)."""

    def find_class(self, module, name):
        if module.startswith("scipy.sparse"):
            return getattr(sp, name)
        return super().find_class(module, name)


def load_planetoid(name: str, root=None, *, normalize_features: bool = True) -> Planetoid:
    """Load Cora, CiteSeer or PubMed with the standard split.

    Parameters
    ----------
    name : {"cora", "citeseer", "pubmed"}
        Case-insensitive.
    root : str or path, optional
        A directory holding ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``. By
        default the copy of Cora and CiteSeer that ships with mlx_sparse; PubMed does not
        ship and needs ``root``.
    normalize_features : bool
        Divide every feature row by its sum (as Kipf & Welling do).

    Returns
    -------
    Planetoid
        140/500/1000 train/validation/test nodes for Cora (120/500/1000 CiteSeer,
        60/500/1000 PubMed). CiteSeer's test nodes absent from its files get zero features
        and no label mask, as in the reference code.
    """
    name = name.lower()
    if name not in ("cora", "citeseer", "pubmed"):
        raise ValueError(f"[load_planetoid] unknown dataset {name!r}: expected cora, citeseer or pubmed")
    if root is None and name == "pubmed":
        raise FileNotFoundError(
            "[load_planetoid] PubMed does not ship with mlx_sparse (only Cora and CiteSeer do): "
            "pass root=, a directory holding the ind.pubmed.* files of the Planetoid repository")
    root = PACKAGED if root is None else Path(root)
    objects = {}
    for part in PARTS:
        path = root / f"ind.{name}.{part}"
        if not path.is_file():
            raise FileNotFoundError(f"[load_planetoid] missing file {path}")
        with open(path, "rb") as f:
            objects[part] = _Unpickler(f, encoding="latin1").load()
    index_path = root / f"ind.{name}.test.index"
    if not index_path.is_file():
        raise FileNotFoundError(f"[load_planetoid] missing file {index_path}")
    test_index = np.array([int(line) for line in index_path.read_text().split()], dtype=np.int64)
    test_range = np.sort(test_index)

    tx, ty = objects["tx"], objects["ty"]
    if name == "citeseer":  # isolated test nodes: rows of zeros where the files have none
        full = np.arange(test_range.min(), test_range.max() + 1)
        tx_full = sp.lil_matrix((full.size, tx.shape[1]))
        tx_full[test_range - test_range.min(), :] = tx
        ty_full = np.zeros((full.size, ty.shape[1]))
        ty_full[test_range - test_range.min(), :] = ty
        tx, ty = tx_full, ty_full

    features = sp.vstack((objects["allx"], tx)).tolil()
    features[test_index, :] = features[test_range, :]
    features = sp.csr_array(features.tocsr(), dtype=np.float32)
    onehot = np.vstack((objects["ally"], ty))
    onehot[test_index, :] = onehot[test_range, :]
    labels = onehot.argmax(1).astype(np.int32)
    n = features.shape[0]

    adjacency = _adjacency(objects["graph"], n)
    if normalize_features:
        sums = np.asarray(features.sum(axis=1)).ravel()
        inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
        features = sp.csr_array(sp.diags_array(inv) @ features, dtype=np.float32)

    n_train = len(objects["y"])
    masks = []
    for idx in (np.arange(n_train), np.arange(n_train, n_train + 500), test_range):
        m = np.zeros(n, dtype=bool)
        m[idx] = True
        masks.append(mx.array(m))
    A = csr_array(adjacency)
    return Planetoid(name, csr_array(features), mx.array(labels), A,
                     normalize_adjacency(A, add_self_loops=True), *masks, onehot.shape[1])


def _adjacency(graph: dict, n: int) -> sp.csr_array:
    """The symmetric 0/1 adjacency of a {node: [neighbours]} dict, without self-loops."""
    rows = np.fromiter((i for i, nbrs in graph.items() for _ in nbrs), dtype=np.int64)
    cols = np.fromiter((j for nbrs in graph.values() for j in nbrs), dtype=np.int64)
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    A = sp.coo_array((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
    A = ((A + A.T) > 0).astype(np.float32)
    A.sort_indices()
    return sp.csr_array(A)
