"""The one wall-clock timer of the benchmarks that need no MLX (the CuPy harness imports it
too): medians, never single times, on a noisy machine."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, sync=lambda: None, repeats=10, warmup=2) -> float:
    """Median milliseconds of ``fn(); sync()`` over ``repeats`` calls after ``warmup`` ones
    (``sync`` waits for a GPU's queued work; MLX results are evaluated by ``fn`` itself)."""
    for _ in range(warmup):
        fn()
        sync()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)
