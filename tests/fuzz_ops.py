"""Fuzzing of construction and every op (run by tests/test_fuzz.py in a subprocess, so that
a crash or a hang fails the test instead of taking pytest down).

Every generated input is built with scipy too. When scipy accepts it (and it holds real
numbers), each op must give scipy's (or dense numpy's) result; otherwise each op that reads
the structure must raise a clear Python error that names the op (``[op] ...``). A second
part repeats failing evaluations many times with a CPU load beside them: MLX 0.32.4 could
hang after an exception thrown on its stream thread, and ours must never throw there.

    python tests/fuzz_ops.py [--examples N] [--failing-loops N]
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import threading
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlx_sparse as ms

# MLX_SPARSE_TEST_DEVICE=gpu (as for the suite): the GPU is the default device, and float64,
# which MLX has only on the CPU, is left out
GPU = os.environ.get("MLX_SPARSE_TEST_DEVICE", "cpu") == "gpu"
mx.set_default_device(mx.gpu if GPU else mx.cpu)  # MLX's default is the GPU where it has one
# MLX_SPARSE_TEST_DEVICE=metal-emulator: the CPU's primitives run their Metal kernels emulated
if os.environ.get("MLX_SPARSE_TEST_DEVICE") == "metal-emulator":
    ms._ext.set_metal_emulator(True)

CLEAR = (ValueError, TypeError, OverflowError, NotImplementedError, MemoryError, IndexError)
NAMED = re.compile(r"^\[[A-Za-z_][A-Za-z0-9_]*\] ")
VALUE_DTYPES = {"float32": (np.float32, 1e-5), "float64": (np.float64, 1e-12),
                "float16": (np.float16, 2e-2), "bfloat16": (np.float32, 2e-2),
                "int64": (np.int64, 1e-5), "bool": (np.bool_, 1e-5)}
if GPU:
    del VALUE_DTYPES["float64"]


def clear_error(e: BaseException, what: str):
    """An exception a user can act on: a Python error type, with the op named first."""
    if not isinstance(e, CLEAR) or not NAMED.match(str(e)):
        raise AssertionError(f"{what}: unclear error {type(e).__name__}: {e}") from e


@st.composite
def structures(draw):
    """(data, indices, indptr, shape, dtype name, index dtype) for the (data, indices, indptr)
    form: mostly valid, often with one rule broken."""
    m, n = draw(st.integers(0, 6)), draw(st.integers(0, 7))
    counts = draw(st.lists(st.integers(0, 4), min_size=m, max_size=m))
    nnz = sum(counts)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.array(draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=nnz, max_size=nnz)),
                       dtype=np.int64)
    if n == 0 and nnz:
        indices[:] = 0  # out of range for 0 columns: broken
    breakage = draw(st.sampled_from(["none"] * 6 + ["column", "negative", "indptr0", "decreasing",
                                                    "last", "length", "huge_column"]))
    if breakage == "column" and nnz:
        indices[draw(st.integers(0, nnz - 1))] = n + draw(st.integers(0, 3))
    elif breakage == "negative" and nnz:
        indices[draw(st.integers(0, nnz - 1))] = -draw(st.integers(1, 3))
    elif breakage == "huge_column" and nnz:
        indices[draw(st.integers(0, nnz - 1))] = 2**32 + draw(st.integers(0, 3))
    elif breakage == "indptr0" and m:
        indptr = indptr + 1
    elif breakage == "decreasing" and m >= 2 and nnz:
        i = draw(st.integers(1, m - 1))
        indptr[i] = indptr[-1] + 1
    elif breakage == "last":
        indptr[-1] += draw(st.sampled_from([-1, 1])) if nnz else 1
    elif breakage == "length":
        indptr = indptr[:-1] if m else np.array([0, 0])
    dtype = draw(st.sampled_from(list(VALUE_DTYPES)))
    values = draw(st.lists(st.integers(-4, 4), min_size=nnz, max_size=nnz))
    data = np.array(values, dtype=VALUE_DTYPES[dtype][0])
    index_dtype = draw(st.sampled_from([None, mx.int32, mx.int64, "int32", np.int64]))
    return data, indices, indptr, (m, n), dtype, index_dtype


def scipy_reference(data, indices, indptr, shape):
    """scipy's matrix of the input, or None when scipy refuses it (in full)."""
    try:
        S = sp.csr_array((data.astype(np.float64), indices, indptr), shape=shape)
        S.check_format(full_check=True)
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    return S


def build(data, indices, indptr, shape, dtype, index_dtype):
    values = data if dtype != "bfloat16" else mx.array(data).astype(mx.bfloat16)
    return ms.csr_array((values, indices, indptr), shape=shape, index_dtype=index_dtype)


def host(a) -> np.ndarray:
    if isinstance(a, ms.SparseArray):
        return a.toarray().astype(np.float64)
    if a.dtype in (mx.bfloat16, mx.float16):
        a = a.astype(mx.float32)
    return np.array(a).astype(np.float64)


def structural_ops(A, rng):
    """(name, thunk, reference on dense D) for every op that reads A's structure."""
    m, n = A.shape
    x, xm = rng.standard_normal(n).astype(np.float32), rng.standard_normal(m).astype(np.float32)
    B, X = rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((2, m)).astype(np.float32)
    G, Y = rng.standard_normal((m, 2)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)
    return [
        ("todense", lambda: A.todense(), lambda D: D),
        ("spmv", lambda: A @ mx.array(x), lambda D: D @ x),
        ("spmm", lambda: A @ mx.array(B), lambda D: D @ B),
        ("vecmat", lambda: ms.matmul(mx.array(xm), A), lambda D: xm @ D),
        ("matmul_left", lambda: X @ A, lambda D: X @ D),
        ("transpose", lambda: A.T, lambda D: D.T),
        ("spgemm", lambda: A @ A.T, lambda D: D @ D.T),
        ("sum_rows", lambda: A.sum(axis=1), lambda D: D.sum(axis=1)),
        ("sum_cols", lambda: A.sum(axis=0), lambda D: D.sum(axis=0)),
        ("multiply_self", lambda: A.multiply(A), lambda D: D * D),
        ("multiply_dense", lambda: A.multiply(mx.array([[2.5]])), lambda D: D * 2.5),
        ("add_transposed_twice", lambda: A + A.T.T, lambda D: 2 * D),
        # each stored entry is sampled: duplicates count as often as they are stored
        ("sddmm", lambda: ms.sddmm(A, mx.array(G), mx.array(Y)).multiply(A).sum_duplicates(),
         lambda D: (G @ Y.T) * _stored_count(A) * D),
        ("sum_duplicates", lambda: A.copy().sum_duplicates(), lambda D: D),
        ("sort_indices", lambda: A.copy().sort_indices(), lambda D: D),
        ("eliminate_zeros", lambda: A.copy().eliminate_zeros(), lambda D: D),
        ("tocoo", lambda: _coo_dense(A), lambda D: D),
        ("softmax_rows", lambda: ms.softmax(A).sum(axis=1), lambda D: (np.diff(_ip(A)) > 0) * 1.0),
        ("pickle", lambda: pickle.loads(pickle.dumps(A)), lambda D: D),
    ]


def _stored_count(A):
    ones = np.ones(A.nnz)
    return sp.csr_array((ones, np.asarray(A.indices), _ip(A)), shape=A.shape).toarray()


def _ip(A):
    return np.asarray(A.indptr)


def _coo_dense(A):
    coo = A.tocoo()
    rows, cols, data = coo.row, coo.col, coo.data
    out = np.zeros(A.shape)
    np.add.at(out, (np.asarray(rows), np.asarray(cols)), host(data))
    return out


def check_example(data, indices, indptr, shape, dtype, index_dtype, seed=0):
    S = scipy_reference(data, indices, indptr, shape)
    try:
        A = build(data, indices, indptr, shape, dtype, index_dtype)
    except Exception as e:  # noqa: BLE001 - every outcome is checked
        clear_error(e, "construction")
        # stricter than scipy, by design: indptr[-1] must be nnz (scipy ignores the rest)
        stricter = indptr.size > 0 and indptr[-1] != indices.size
        assert S is None or stricter, f"construction refused what scipy accepts: {e}"
        return
    rng = np.random.default_rng(seed)
    rtol = max(VALUE_DTYPES[dtype][1], 2e-6)  # the dense operands are float32
    for name, thunk, reference in structural_ops(A, rng):
        try:
            out = thunk()
            got = host(out) if not isinstance(out, np.ndarray) else out
        except Exception as e:  # noqa: BLE001
            clear_error(e, name)
            assert S is None, f"{name} refused a valid matrix: {e}"
            continue
        assert S is not None, f"{name} returned a result for an invalid matrix (scipy refuses it)"
        want = reference(S.toarray())
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 8, err_msg=name)


def fuzz_csr(case):
    check_example(*case)


@st.composite
def operands(draw):
    """Things users put on the other side of @, * and +: arrays, scalars, nonsense."""
    return draw(st.sampled_from([
        None, "abc", object(), [None], 1j, np.complex64(2), 2.5, np.float64(3), mx.array(2.0),
        np.ones((3, 4)), np.ones((4,)), mx.ones((4, 2), dtype=mx.int32), np.ones((2, 3, 4, 5)),
        [[1, 2]], sp.random(4, 3, density=0.5, random_state=0), mx.zeros((0, 4)),
    ]))


HOW = ["matmul", "rmatmul", "mul", "add", "sub", "div", "multiply"]


def fuzz_operands(case):
    other, how = case
    A = ms.random(3, 4, density=0.5, seed=1)
    D = A.toarray().astype(np.float64)
    try:
        out = {"matmul": lambda: A @ other, "rmatmul": lambda: ms.matmul(other, A),
               "mul": lambda: A * other, "add": lambda: A + other, "sub": lambda: A - other,
               "div": lambda: A / other, "multiply": lambda: A.multiply(other)}[how]()
        got = host(out) if isinstance(out, (mx.array, ms.SparseArray)) else np.asarray(out, dtype=np.float64)
    except Exception as e:  # noqa: BLE001
        clear_error(e, how)
        return
    dense = other.toarray() if sp.issparse(other) else np.asarray(other, dtype=np.float64)
    want = {"matmul": lambda: D @ dense, "rmatmul": lambda: dense @ D, "mul": lambda: D * dense,
            "add": lambda: D + dense, "sub": lambda: D - dense, "div": lambda: D / dense,
            "multiply": lambda: D * dense}[how]()
    np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"{how} {type(other).__name__}")


def fuzz_compiled(case):
    """Under mx.compile the indices are traced: kernels cannot raise, and give a defined
    result of the right shape (tests/test_kernel_rules.py checks its values)."""
    data, indices, indptr, (m, n), dtype, _ = case
    if indptr.size != m + 1 or data.size != indices.size or dtype in ("int64", "bool"):
        return
    if np.any(np.abs(indices) >= 2**31):
        return
    x = mx.ones((n,))

    @mx.compile
    def f(values, ix, ip):
        A = ms.CSRArray(values, ix, ip, (m, n), check=False)
        return A @ x, A.todense(), ms.softmax(A).data

    values = mx.array(data.astype(np.float32))
    y, D, s = f(values, mx.array(indices.astype(np.int32)), mx.array(indptr.astype(np.int32)))
    mx.eval(y, D, s)
    assert y.shape == (m,) and D.shape == (m, n) and s.shape == (indices.size,)


def failing_loops(n: int):
    """Failing evaluations over and over, with the other core kept busy: invalid matrices
    (refused on the host, before the graph is built) and, under mx.compile, traced invalid
    indices (which reach the kernels: a defined result, never an exception)."""
    stop = threading.Event()

    def burn():
        a = np.random.default_rng(0).standard_normal((300, 300))
        while not stop.is_set():
            a = np.tanh(a @ a.T / 300)

    burner = threading.Thread(target=burn, daemon=True)
    burner.start()
    bad = [(np.ones(2, np.float32), np.array([0, 9]), np.array([0, 1, 2, 2]), (3, 3)),
           (np.ones(2, np.float32), np.array([0, 1]), np.array([0, 2, 1, 2]), (3, 3)),
           (np.ones(2, np.float32), np.array([0, -1]), np.array([0, 1, 2, 2]), (3, 3))]
    good = ms.random(50, 40, density=0.1, seed=3)
    x = mx.ones((40,))

    @mx.compile
    def traced(values, ix, ip):
        A = ms.CSRArray(values, ix, ip, (3, 3), check=False)
        return A @ mx.ones((3,)), A.T.todense(), ms.softmax(A).data, A.sum(axis=0)

    try:
        for i in range(n):
            case = bad[i % len(bad)]
            A = build(*case, "float32", None)
            for op in (lambda: A @ mx.ones((3,)), lambda: A.T, lambda: A.todense(),
                       lambda: A @ A.T, lambda: ms.softmax(A), lambda: A.sum(axis=0)):
                try:
                    mx.eval(op())
                except Exception as e:  # noqa: BLE001
                    clear_error(e, "failing loop")
                else:
                    raise AssertionError("an invalid matrix was used")
            mx.eval(traced(mx.array(case[0]), mx.array(case[1].astype(np.int32)),
                           mx.array(case[2].astype(np.int32))))
            mx.eval(good @ x)  # and the stream still works
    finally:
        stop.set()
        burner.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--failing-loops", type=int, default=1000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    parts = ((fuzz_csr, structures(), 1.0),
             (fuzz_operands, st.tuples(operands(), st.sampled_from(HOW)), 0.5),
             (fuzz_compiled, structures(), 0.3))
    for fn, strategy, scale in parts:
        examples = max(10, int(args.examples * scale))
        settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
            given(strategy)(fn))()
        print(f"{fn.__name__}: {examples} examples passed", flush=True)
    failing_loops(args.failing_loops)
    print(f"failing_loops: {args.failing_loops} rounds passed", flush=True)
    mx.synchronize()
    errors = ms._ext.metal_emulator_errors()  # always empty unless emulated
    if errors:
        raise SystemExit("Metal emulator errors:\n" + "\n".join(errors[:10]))
    print(f"fuzz done in {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
