"""Sizes at or past MLX's 32-bit shapes, and memory limits. MLX array dimensions are int32:
an op whose result would have a larger dimension says so, naming the op, instead of
narrowing it (a (3, 2**31) matrix used to give shapes such as (3, -2147483648), and A.T a
segfault). Products whose results fit still work without n-sized work arrays. Every case
runs in a child process under an address-space limit, so that a regression that allocates
n-sized arrays fails with MemoryError there instead of exhausting this machine. Under
AddressSanitizer, which reserves more address space than any such limit allows, the limit
is left out and the two tests that need it are skipped."""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import GPU_TESTS

pytestmark = pytest.mark.skipif(GPU_TESTS, reason="host memory limits; the checks are device-free")
ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
needs_limit = pytest.mark.skipif(ASAN, reason="ASan's shadow memory exceeds any RLIMIT_AS")

PRELUDE = """
import resource, numpy as np, mlx.core as mx, mlx_sparse as ms
def limit(gib):
    resource.setrlimit(resource.RLIMIT_AS, (int(gib * 2**30),) * 2)
def outcome(fn):
    try:
        r = fn()
        mx.eval(r)
        return "ok"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
n = 2**31
wide = ms.csr_array((np.array([1.0, 2.0, 3.0], np.float32), np.array([0, 5, n - 1], np.int64),
                     np.array([0, 1, 2, 3], np.int64)), shape=(3, n))
# Marked checked by hand: the Python layer's full check still counts columns in an n-sized
# array (np.bincount, issue 11's "unbounded resources", fixed on the Python side).
wide._cache.update(valid=True, lengths=ms._ext.RowLengths())
"""


def run(body, gib=3.0, timeout=300):
    code = PRELUDE + ("" if ASAN else f"\nlimit({gib})\n") + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, f"the child died ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


SHAPE_ERROR = "OverflowError: [{op}] the result would have {count} {what}: MLX shapes are 32-bit"


@pytest.mark.parametrize("expr, op, count, what", [
    ("wide.todense()", "csr_todense", 2**31, "columns"),
    ("ms.matmul(mx.ones((2, 3)), wide)", "csr_spmm", 2**31, "columns"),
    ("np.ones((2, 3), np.float32) @ wide", "csr_spmm", 2**31, "columns"),
    ("ms.matmul(mx.ones((3,)), wide)", "csr_spmv", 2**31, "columns"),
    ("wide.T", "csr_transpose", 2**31 + 1, "row pointers in A^T (n_cols + 1)"),
    ("wide.sum(axis=0)", "csr_spmv", 2**31, "columns"),
    ("wide @ wide.T", "csr_transpose", 2**31 + 1, "row pointers in A^T (n_cols + 1)"),
    ("ms._ext.coo_tocsr(mx.array([0, 1, 2]), mx.array([0, 1, 2]), n, 3, True)", "coo_tocsr",
     2**31 + 1, "row pointers (m + 1)"),
    ("ms.csr_array((np.ones(3, np.float32), (np.arange(3), np.arange(3))), shape=(n, 3))",
     "coo_tocsr", 2**31 + 1, "row pointers (m + 1)"),
    ("ms._ext.csr_sum_duplicates(mx.ones(3), mx.array([0, 1, 2]), n)", "csr_sum_duplicates", 2**31,
     "stored entries"),
])
def test_results_past_int32_shapes_raise(expr, op, count, what):
    out = run(f"print(outcome(lambda: {expr}))")
    assert out.strip().startswith(SHAPE_ERROR.format(op=op, count=count, what=what)), out


def test_products_that_fit_still_work():
    """Results of a few entries over n = 2**31 columns: no n-sized array is made (under a
    3 GiB limit): the structure, scalar and COO views, and B @ wide, whose symbolic phase
    goes without a marker and whose values search C's columns (both too wide for n-sized
    accumulators)."""
    out = run("""
        print(outcome(lambda: wide.sum()), float(wide.sum()))
        print(np.array(ms._ext.csr_rows(wide.indptr, wide.indices)).tolist())
        B = ms.csr_array(np.array([[1, 0, 2], [0, 3, 0], [4, 0, 5]], np.float32),
                         index_dtype=mx.int64)
        C = B @ wide
        print(C.shape, C.indptr.tolist(), C.indices.tolist(), C.data.tolist())
        """)
    lines = out.splitlines()
    assert lines[0] == "ok 6.0", out
    assert lines[1] == "[0, 1, 2]", out
    n = 2**31
    # B @ wide: row 0 = wide[0] + 2 wide[2], row 1 = 3 wide[1], row 2 = 4 wide[0] + 5 wide[2]
    want = f"(3, {n}) [0, 2, 3, 5] [0, {n - 1}, 5, 0, {n - 1}] [1.0, 6.0, 6.0, 4.0, 15.0]"
    assert lines[2] == want, out


@needs_limit
def test_spgemm_out_of_memory_is_a_memory_error():
    """A product whose pattern does not fit in memory (C dense 20,000 x 20,000 under a 1 GiB
    limit): the host symbolic phase runs out of memory inside the CPU pool's workers; the
    first exception comes back to the caller as MemoryError naming the op (it used to call
    std::terminate), and the process goes on working."""
    out = run("""
        ms.set_num_threads(2)
        col = ms.csr_array((np.ones(20000, np.float32), (np.arange(20000), np.zeros(20000, int))),
                           shape=(20000, 1))
        print(outcome(lambda: col @ col.T))
        eye = ms.csr_array(np.eye(3, dtype=np.float32))
        print(outcome(lambda: eye @ eye))
        """, gib=1.0)
    first, second = out.splitlines()
    assert first.startswith("MemoryError: [csr_spgemm] out of memory finding C's pattern"), out
    assert second == "ok", out


@needs_limit
def test_spgemm_checks_the_size_of_c_before_collecting_it():
    """C = (46,341 x 1) @ (1 x 46,341) has 46,341^2 > 2^31 - 1 entries: the symbolic phase
    counts them and raises before collecting any (under a 2 GiB limit, collecting them would
    run out of memory first)."""
    out = run("""
        k = 46341
        col = ms.csr_array((np.ones(k, np.float32), (np.arange(k), np.zeros(k, int))), shape=(k, 1))
        print(outcome(lambda: col @ col.T))
        """, gib=2.0)
    assert out.strip().startswith(SHAPE_ERROR.format(op="csr_spgemm", count=46341**2,
                                                     what="stored entries")), out
