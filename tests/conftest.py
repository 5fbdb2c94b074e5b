"""Shared helpers: seeded random CSR matrices (canonical and not), dtype parametrisation,
float64 references and tolerances. References are always scipy or dense numpy in float64."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms

ROOT = pathlib.Path(__file__).resolve().parents[1]

# MLX_SPARSE_TEST_DEVICE=gpu runs the whole suite with the GPU as MLX's default device
# (references stay scipy / numpy on the host). MLX has no float64 on the GPU. Otherwise the
# CPU is the default device, also where MLX would pick the GPU (a Mac, MLX's CUDA build).
# MLX_SPARSE_TEST_DEVICE=metal-emulator (a build with -DMLX_SPARSE_METAL_EMULATOR=ON) runs
# every primitive through its Metal kernels on the emulator (docs/developer/metal_emulator.md);
# float64, which Metal lacks, is left out as on the GPU.
TEST_DEVICE = os.environ.get("MLX_SPARSE_TEST_DEVICE", "cpu")
GPU_TESTS = TEST_DEVICE == "gpu"
EMULATOR_TESTS = TEST_DEVICE == "metal-emulator"
GPU_KERNELS = GPU_TESTS or EMULATOR_TESTS  # the primitives run the GPU kernels (CUDA or Metal)
# MLX's float32 dense matmul on a GPU rounds its inputs through TF32 (about 1e-3 relative):
# the tolerance of results that pass through mx.matmul there (None: RTOL[dtype])
DENSE_RTOL = 2e-3 if GPU_TESTS else None
VALUE_DTYPES = [mx.float32, mx.float16, mx.bfloat16] + (
    [] if GPU_TESTS or EMULATOR_TESTS else [mx.float64])
VALUE_IDS = ["f32", "f16", "bf16", "f64"][: len(VALUE_DTYPES)]
INDEX_DTYPES = [mx.int32, mx.int64]
INDEX_IDS = ["i32", "i64"]
RTOL = {mx.float32: 1e-5, mx.float16: 2e-2, mx.bfloat16: 2e-2, mx.float64: 1e-12}

VARIANTS = ["canonical", "unsorted", "duplicates", "explicit_zeros", "empty_rows", "nnz0",
            "one_long_row"]
NON_CANONICAL = ["unsorted", "duplicates", "explicit_zeros"]

# small odd shapes, degenerate shapes and a medium one
SHAPES = [(7, 11), (37, 29), (1, 1), (1, 9), (9, 1), (0, 5), (5, 0), (0, 0), (130, 97)]
SMALL_SHAPES = [(7, 11), (37, 29), (1, 1), (0, 5), (5, 0), (0, 0)]

value_dtypes = pytest.mark.parametrize("dtype", VALUE_DTYPES, ids=VALUE_IDS)
index_dtypes = pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=INDEX_IDS)
variants = pytest.mark.parametrize("variant", VARIANTS)
non_canonical = pytest.mark.parametrize("variant", NON_CANONICAL)


@dataclass
class Case:
    """A CSR matrix as host arrays (possibly non-canonical) and its float64 dense matrix."""

    data: np.ndarray  # float64
    indices: np.ndarray  # int64
    indptr: np.ndarray  # int64
    shape: tuple
    variant: str

    @property
    def nnz(self):
        return self.indices.size

    @property
    def rows(self):
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def dense(self, dtype=None):
        """The dense matrix in float64 (duplicates summed) of the values rounded to dtype."""
        data = self.data if dtype is None else rounded(self.data, dtype)
        out = np.zeros(self.shape)
        np.add.at(out, (self.rows, self.indices), data)
        return out

    def abs_dense(self, dtype=None):
        """|entries| summed per position: the scale of sums of products (no cancellation)."""
        data = self.data if dtype is None else rounded(self.data, dtype)
        out = np.zeros(self.shape)
        np.add.at(out, (self.rows, self.indices), np.abs(data))
        return out

    def pattern(self):
        """scipy csr_array with 1 at every stored position (canonical)."""
        s = sp.csr_array((np.ones(self.nnz), self.indices.copy(), self.indptr.copy()),
                        shape=self.shape)
        s.sum_duplicates()
        s.data[:] = 1.0
        return s

    def scipy(self, dtype=None):
        data = self.data.copy() if dtype is None else rounded(self.data, dtype)
        return sp.csr_array((data, self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def csr(self, dtype=mx.float32, index_dtype=mx.int32):
        """The CSRArray; canonical cases go through scipy, others through the 3-tuple form."""
        if self.variant == "canonical":
            return ms.csr_array(self.scipy(), dtype=dtype, index_dtype=index_dtype)
        return ms.csr_array((to_mx(self.data, dtype), self.indices, self.indptr), shape=self.shape,
                            index_dtype=index_dtype)


FORMATS = ["csr", "csc", "coo", "bsr"]
formats = pytest.mark.parametrize("fmt", FORMATS)


def in_format(case, fmt, dtype=mx.float64):
    """The case's matrix in a format, duplicates and explicit zeros kept (CSC: the CSR form
    transposed twice; BSR: 1x1 blocks of the CSR form)."""
    A = case.csr(dtype)
    if fmt == "coo":
        return ms.coo_array((to_mx(case.data, dtype), (case.rows, case.indices)), shape=case.shape)
    return {"csr": A, "csc": A.tocsc(), "bsr": A.tobsr((1, 1))}[fmt]


def random_case(shape, variant="canonical", density=0.3, seed=0) -> Case:
    """A seeded random CSR matrix of the given variant (see VARIANTS)."""
    rng = np.random.default_rng(seed)
    m, n = shape
    if variant == "nnz0" or m * n == 0:
        return Case(np.zeros(0), np.zeros(0, np.int64), np.zeros(m + 1, np.int64), (m, n), variant)
    mask = rng.random((m, n)) < density
    if variant == "empty_rows":
        mask[rng.random(m) < 0.5] = False
        mask[0] = mask[-1] = False
    if variant == "one_long_row":
        mask[:] = rng.random((m, n)) < 0.05
        mask[rng.integers(m)] = True
    rows, cols = np.nonzero(mask)
    vals = rng.uniform(-1.0, 1.0, rows.size)
    vals[np.abs(vals) < 0.05] += 0.25  # no accidental near-zeros
    if variant == "explicit_zeros" and vals.size:
        vals[rng.random(vals.size) < 0.3] = 0.0
        vals[0] = 0.0
    if variant == "duplicates" and vals.size:
        dup = np.flatnonzero(rng.random(vals.size) < 0.4)
        dup = dup if dup.size else np.array([0])
        split = rng.uniform(0.2, 0.8, dup.size)
        rows = np.concatenate([rows, rows[dup]])
        cols = np.concatenate([cols, cols[dup]])
        vals = np.concatenate([vals, vals[dup] * (1 - split)])
        vals[dup] *= split
        order = np.lexsort((cols, rows))  # sorted, duplicates adjacent: sorted, not canonical
        rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    cols = cols.astype(np.int64)
    if variant == "unsorted":
        for i in range(m):
            lo, hi = indptr[i], indptr[i + 1]
            perm = rng.permutation(hi - lo)
            if hi - lo > 1 and np.all(perm == np.arange(hi - lo)):
                perm = perm[::-1]
            cols[lo:hi], vals[lo:hi] = cols[lo:hi][perm], vals[lo:hi][perm]
    return Case(vals, cols, indptr, (m, n), variant)


def to_mx(x, dtype=mx.float32) -> mx.array:
    """A numpy array as an mx.array of dtype (bfloat16 through float32)."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == mx.float64:
        return mx.array(x, dtype=mx.float64)
    return mx.array(x.astype(np.float32)).astype(dtype)


def to_np(a) -> np.ndarray:
    """An mx.array as float64 numpy."""
    if a.dtype in (mx.bfloat16, mx.float16):
        a = a.astype(mx.float32)
    return np.array(a).astype(np.float64)


def rounded(x, dtype) -> np.ndarray:
    """float64 values of x after rounding to dtype."""
    if dtype == mx.float64:
        return np.asarray(x, dtype=np.float64)
    return to_np(to_mx(x, dtype))


def rand(shape, seed=0, dtype=None) -> np.ndarray:
    """Random float64 values in [-1, 1), rounded to dtype when given."""
    x = np.random.default_rng(seed + 1000).uniform(-1.0, 1.0, shape)
    return x if dtype is None else rounded(x, dtype)


def assert_close(actual, expected, dtype=mx.float32, scale=None, rtol=None):
    """|actual - expected| <= rtol * (|expected| + scale); scale defaults to max(1, |expected|),
    or pass the magnitude of the terms (|A| @ |B|) for sums that may cancel."""
    got = to_np(actual) if isinstance(actual, mx.array) else np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    rtol = RTOL[dtype] if rtol is None else rtol
    if scale is None:
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    elif not np.isscalar(scale):
        scale = max(1.0, float(np.max(scale, initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def rows_canonical(indptr, indices) -> bool:
    """Every row strictly increasing (sorted and free of duplicates)."""
    ip, ix = np.asarray(indptr), np.asarray(indices)
    return all(np.all(np.diff(ix[ip[i]:ip[i + 1]]) > 0) for i in range(ip.size - 1))


def rows_sorted(indptr, indices) -> bool:
    ip, ix = np.asarray(indptr), np.asarray(indices)
    return all(np.all(np.diff(ix[ip[i]:ip[i + 1]]) >= 0) for i in range(ip.size - 1))


@pytest.fixture
def planetoid_dir():
    """The Cora and CiteSeer files that ship inside the package."""
    return ms.datasets.PACKAGED


if TEST_DEVICE not in ("cpu", "gpu", "metal-emulator"):
    raise RuntimeError(f"MLX_SPARSE_TEST_DEVICE={TEST_DEVICE!r}: use cpu, gpu or metal-emulator")
if GPU_TESTS:
    if not mx.is_available(mx.gpu) or ms.gpu_backend() is None:
        raise RuntimeError("MLX_SPARSE_TEST_DEVICE=gpu, but MLX or mlx_sparse has no GPU here")
    mx.set_default_device(mx.gpu)
else:
    mx.set_default_device(mx.cpu)  # MLX's default is the GPU where it has one (a Mac, CUDA)
if EMULATOR_TESTS:
    from mlx_sparse import _ext

    _ext.set_metal_emulator(True)  # raises, naming the build option, where it is missing


@pytest.fixture(autouse=True)
def _metal_emulator_errors():
    """On the emulator, a kernel's error (divergence, an exception in a kernel) fails the test
    that ran it: kernels run on MLX's stream thread, which cannot raise."""
    yield
    if EMULATOR_TESTS:
        mx.synchronize()
        errors = _ext.metal_emulator_errors()
        assert not errors, "Metal emulator: " + "\n".join(errors[:5])


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "large: minutes on the Metal emulator (training on a real graph, the "
        "emulator's own C++ build); the emulated run leaves it out unless "
        "MLX_SPARSE_EMULATOR_LARGE=1")


def pytest_collection_modifyitems(config, items):
    if EMULATOR_TESTS and os.environ.get("MLX_SPARSE_EMULATOR_LARGE") != "1":
        skip = pytest.mark.skip(reason="large: minutes on the Metal emulator "
                                       "(MLX_SPARSE_EMULATOR_LARGE=1 runs it)")
        for item in items:
            if "large" in item.keywords:
                item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """MLX_SPARSE_EMULATOR_COVERAGE=1 (CI's full emulated run): every Metal kernel must have
    run on the emulator at least once; those that did not are listed and fail the run."""
    if not EMULATOR_TESTS or os.environ.get("MLX_SPARSE_EMULATOR_COVERAGE") != "1":
        return
    missing = sorted(set(_ext.metal_emulator_kernels()) - set(_ext.metal_emulator_kernels_run()))
    print(f"\nMetal emulator: {len(_ext.metal_emulator_kernels_run())} of "
          f"{len(_ext.metal_emulator_kernels())} kernels ran")
    if missing:
        print("Metal kernels no test ran on the emulator:\n  " + "\n  ".join(missing))
        session.exitstatus = 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """On the GPU, a test that builds float64 arrays itself (e.g. for finite differences) is
    skipped: MLX has no float64 there and says so."""
    outcome = yield
    exc = outcome.excinfo[1] if outcome.excinfo else None
    if GPU_TESTS and exc is not None and "float64 is not supported on the GPU" in str(exc):
        outcome.force_exception(pytest.skip.Exception("MLX has no float64 on the GPU"))
