"""`python -m mlx_sparse`: a short self-check against scipy and a SpMM timing."""

from __future__ import annotations

import platform
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse._device import metal_compile_all


def _check(name: str, ours, ref, tol=1e-4) -> bool:
    err = float(np.max(np.abs(np.asarray(ours, dtype=np.float64) - ref), initial=0.0))
    scale = float(np.max(np.abs(ref), initial=1.0))
    ok = err <= tol * max(scale, 1.0)
    print(f"  {'ok ' if ok else 'FAIL'} {name:<40s} max |error| = {err:.2e}")
    return ok


def self_check() -> bool:
    rng = np.random.default_rng(0)
    S = sp.random(301, 257, density=0.02, format="csr", dtype=np.float64, random_state=1)
    S = S.astype(np.float32)
    A = ms.csr_array(S)
    x = rng.standard_normal(257).astype(np.float32)
    B = rng.standard_normal((257, 33)).astype(np.float32)
    X = rng.standard_normal((5, 301)).astype(np.float32)
    W = rng.standard_normal((301, 33)).astype(np.float32)
    Sd = S.toarray().astype(np.float64)
    results = [
        _check("spmv       A @ x", A @ mx.array(x), S @ x),
        _check("spmm       A @ B", A @ mx.array(B), S @ B),
        _check("transposed X @ A", X @ A, X @ S),
        _check("spgemm     A @ A.T", (A @ A.T).toarray(), (S @ S.T).toarray()),
    ]
    # d/dB sum(W * (A @ B)) = A^T W ; d/dvalues = (W B^T) at the pattern
    loss = lambda v, b: (mx.array(W) * (A.with_data(v) @ b)).sum()
    gv, gb = mx.grad(loss, argnums=(0, 1))(A.data, mx.array(B))
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    results.append(_check("grad wrt B", gb, Sd.T @ W))
    results.append(_check("grad wrt values", gv, (W @ B.T)[rows, S.indices]))
    return all(results)


def _median_ms(fn, repeats=15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def spmm_timing(n=4096, density=1e-2, k=128) -> None:
    S = sp.random(n, n, density=density, format="csr", dtype=np.float32, random_state=2)
    B = np.random.default_rng(3).standard_normal((n, k)).astype(np.float32)
    A, Bm = ms.csr_array(S), mx.array(B)
    mx.eval(A, Bm)
    ours = _median_ms(lambda: mx.eval(A @ Bm))
    ref = _median_ms(lambda: S @ B)
    print(f"  SpMM {n}x{n}, density {density:g}, k={k}, float32 (median of 15):")
    print(f"    mlx_sparse {ours:7.2f} ms   scipy {ref:7.2f} ms   speed-up {ref / ours:.2f}x")


def gpu_report() -> str:
    """Which GPU backend this build has, and on Metal whether its kernel families compiled."""
    backend = ms.gpu_backend()
    if backend is None:
        return "GPU backend: none in this build (CPU only)"
    if not mx.is_available(mx.gpu):
        return f"GPU backend: {backend}, but MLX has no GPU here"
    if backend != "metal":
        return f"GPU backend: {backend}"
    failures = metal_compile_all()
    if not failures:
        return "GPU backend: metal, every kernel family compiled"
    lines = [f"GPU backend: metal, kernel families that did NOT compile: {', '.join(sorted(failures))}"]
    return "\n".join(lines + [f"  {msg}" for msg in failures.values()])


def main() -> int:
    print(f"mlx_sparse {ms.__version__} on mlx {mx.__version__}, {platform.machine()}, "
          f"device {mx.default_device()}, CPU kernels: {ms.kernel_isa()} x {ms.num_threads()} threads")
    print(gpu_report())
    print("self-check against scipy:")
    ok = self_check()
    print("timing:")
    spmm_timing()
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
