"""The real-matrix loaders of benchmarks/real_matrices.py on small inputs written here (nothing is
downloaded): each builder against a matrix worked out by hand."""

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_matrices as rm  # noqa: E402


def dense(A):
    return np.asarray(rm.as_csr_f32(A).toarray(), dtype=np.float64)


def test_wordnet_graph_follows_pointers_across_files():
    # two nouns and one satellite adjective; lines are "offset lexfile type w_cnt words p_cnt ptrs"
    noun = (b"  1 This software and database is provided\n"
            b"00000010 03 n 01 entity 0 001 ~ 00000020 n 0000 | a thing\n"
            b"00000020 03 n 02 cat 0 kitty 0 002 @ 00000010 n 0000 & 00000100 s 0000 | a cat\n")
    adj = b"00000100 00 s 01 feline 0 001 = 00000020 n 0000 | like a cat\n"
    A = dense(rm.wordnet_graph({"data.noun": noun, "data.adj": adj}))
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = expected[1, 2] = expected[2, 1] = 1
    np.testing.assert_array_equal(A, expected)


def test_term_document_counts_words_of_fortunes():
    files = [("cookie", b"The cat.\n%\nthe cat and the dog\n%\n"), ("more", b"Dog's day\n%\n")]
    docs = rm.fortune_docs(files)
    assert len(docs) == 3
    A = dense(rm.term_document(docs))  # columns: the, cat, and, dog, dog's, day
    np.testing.assert_array_equal(A, [[1, 1, 0, 0, 0, 0], [2, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]])


def test_link_graph_resolves_relative_links_and_drops_others():
    pages = [("/d/index.html", b'<a href="a/x.html">x</a> <a href="index.html#top">me</a>'),
             ("/d/a/x.html", b'<a href="../index.html">up</a> <a href="http://e.org/y.html">out</a>'
                             b' <a href="missing.html">gone</a> <a href="../index.html">again</a>')]
    A = dense(rm.link_graph(pages))  # ids in sorted order: /d/a/x.html, /d/index.html
    np.testing.assert_array_equal(A, [[0, 1], [1, 0]])


CASE = """function mpc = tiny
mpc.baseMVA = 100;
%% bus data
mpc.bus = [
	10	3	0	0	0	0	1	1	0	345	1	1.1	0.9;
	20	1	0	0	0	0	1	1	0	345	1	1.1	0.9;  % comment
	30	1	0	0	0	0	1	1	0	345	1	1.1	0.9;
];
mpc.branch = [
	10	20	0	0.5	0	0	0	0	0	0	1	-360	360;
	20	30	0	0.25	0	0	0	0	0	0	1	-360	360;
	10	30	0	0.1	0	0	0	0	0	0	0	-360	360;
	10	20	0	1	0	0	0	0	0	0	1	-360	360;
];
"""


def test_dc_susceptance_is_the_weighted_laplacian_of_in_service_branches():
    # 10-20 twice (1/0.5 + 1/1 = 3), 20-30 (4), 10-30 out of service
    B = dense(rm.dc_susceptance(CASE))
    np.testing.assert_allclose(B, [[3, -3, 0], [-3, 7, -4], [0, -4, 4]])


def test_hex_mesh_pattern_couples_all_dofs_of_an_element():
    deck = ("*HEADING\nx\n*NODE, NSET=Nall\n" + "".join(f"{n},0,0,0\n" for n in range(1, 10))
            + "*ELEMENT, TYPE=C3D8, ELSET=Eall\n1,1,2,3,4,5,6,7,8\n2,2,3,4,5,6,7,8,9\n"
            + "*NODE PRINT, NSET=Nall\nU\n")
    A = dense(rm.hex_mesh_stiffness_pattern(deck))
    assert A.shape == (27, 27)
    shared = np.zeros((9, 9))
    shared[:8, :8] += 1
    shared[1:, 1:] += 1
    np.testing.assert_array_equal(A, np.kron(shared, np.ones((3, 3))))


def _deb(members):
    """A .deb (ar archive) whose data.tar.gz holds `members` {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("." + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = b"!<arch>\n"
    for name, data in (("debian-binary", b"2.0\n"), ("data.tar.gz", buf.getvalue())):
        out += f"{name:<16s}{0:<12d}{0:<6d}{0:<6d}{100644:<8d}{len(data):<10d}`\n".encode()
        out += data + b"\n" * (len(data) % 2)
    return out


def test_deb_members_reads_the_data_tarball(tmp_path):
    path = tmp_path / "p.deb"
    path.write_bytes(_deb({"/usr/share/a/data.noun": b"n", "/usr/share/a/other": b"o"}))
    assert list(rm.deb_members(path, r"/data\.noun$")) == [("/usr/share/a/data.noun", b"n")]
    (tmp_path / "bad.deb").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match=r"\[real_matrices\] .* not a Debian package"):
        list(rm.deb_members(tmp_path / "bad.deb", "x"))


def test_fetch_refuses_a_file_whose_sha256_differs(tmp_path):
    art = rm.ARTIFACTS["fortunes"]
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / art.filename).write_bytes(b"tampered")
    with pytest.raises(RuntimeError, match=r"\[real_matrices\] .* sha256"):
        rm.fetch(art, tmp_path)


def test_as_csr_f32_is_canonical_float32_int32():
    import scipy.sparse as sp
    A = rm.as_csr_f32(sp.coo_array(([1.0, 2.0, 3.0], ([1, 0, 1], [0, 1, 0])), shape=(2, 2)))
    assert A.dtype == np.float32 and A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    assert A.has_canonical_format
    np.testing.assert_array_equal(A.toarray(), [[0, 2], [4, 0]])
