"""Saving and loading CSRArrays: MLX's files (savez, save_safetensors, load) and scipy's
save_npz format, both ways."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_TESTS, to_np

DTYPES = [mx.float32, mx.float16, mx.bfloat16] + ([] if GPU_TESTS else [mx.float64])


def assert_same(B, A):
    assert B.shape == A.shape and B.dtype == A.dtype and B.index_dtype == A.index_dtype
    np.testing.assert_array_equal(to_np(B.data), to_np(A.data))
    np.testing.assert_array_equal(np.array(B.indices), np.array(A.indices))
    np.testing.assert_array_equal(np.array(B.indptr), np.array(A.indptr))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_mlx_files_hold_csr_arrays(tmp_path, dtype, suffix):
    A = ms.random(9, 13, density=0.3, seed=0, dtype=dtype)
    E = ms.csr_array((0, 4), dtype=dtype)
    x = mx.arange(5)
    path = str(tmp_path / f"w.{suffix}")
    if suffix == "safetensors" and dtype == mx.float64:
        with pytest.raises(TypeError, match=r"\[save_safetensors\] MLX's safetensors files hold no float64 \(weight.data"):
            ms.save_safetensors(path, {"weight": A})
        return
    if suffix == "npz":
        ms.savez(path, A, weight=A, empty=E, x=x)
    else:
        ms.save_safetensors(path, {"arr_0": A, "weight": A, "empty": E, "x": x}, metadata={"k": "v"})
    out = ms.load(path)
    assert sorted(out) == ["arr_0", "empty", "weight", "x"]
    assert_same(out["weight"], A)
    assert_same(out["arr_0"], A)
    assert_same(out["empty"], E)
    np.testing.assert_array_equal(np.array(out["x"]), np.arange(5))
    if suffix == "safetensors":
        assert ms.load(path, return_metadata=True)[1] == {"k": "v"}


def test_save_refuses_clashing_names(tmp_path):
    A = ms.random(3, 3, density=0.5, seed=0)
    with pytest.raises(ValueError, match=r"\[save\] the names \['w.data'\] clash"):
        ms.savez(str(tmp_path / "a.npz"), w=A, **{"w.data": mx.ones(2)})
    with pytest.raises(TypeError, match=r"\[save\] 'w' must be an mx.array or a sparse array"):
        ms.savez(str(tmp_path / "a.npz"), w=np.ones(2))


def test_load_checks_what_it_reads(tmp_path):
    A = ms.random(3, 4, density=0.5, seed=0)
    path = str(tmp_path / "a.safetensors")
    ms.save_safetensors(path, {"w": A})
    parts = mx.load(path)
    parts["w.indices"] = mx.full(parts["w.indices"].shape, 9, dtype=parts["w.indices"].dtype)
    mx.save_safetensors(path, parts)
    with pytest.raises(ValueError, match=r"column index 9 is out of range for 4 columns"):
        ms.load(path)
    del parts["w.indptr"]
    mx.save_safetensors(path, parts)
    with pytest.raises(ValueError, match=r"\[load\] the file lists CSRArray 'w' but lacks its part"):
        ms.load(path)


@pytest.mark.parametrize("dtype", DTYPES)
def test_save_npz_is_scipys_format(tmp_path, dtype):
    A = ms.random(7, 5, density=0.4, seed=2, dtype=dtype)
    path = tmp_path / "a.npz"
    ms.save_npz(path, A)
    S = sp.load_npz(path)  # scipy reads float16 but cannot compute with it: compare parts
    np.testing.assert_array_equal(S.data, to_np(A.data).astype(S.data.dtype))
    np.testing.assert_array_equal(S.indices, np.array(A.indices))
    assert S.shape == A.shape and S.format == "csr"
    assert_same(ms.load_npz(path), A)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_load_npz_reads_scipy_files(tmp_path, fmt):
    S = sp.random(8, 6, density=0.3, format=fmt, dtype=np.float32, random_state=1)
    sp.save_npz(tmp_path / "s.npz", S)
    A = ms.load_npz(tmp_path / "s.npz")
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert A.dtype == mx.float32
