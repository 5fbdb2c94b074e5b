"""SpMV (A @ x): throughput on a large matrix, and per-call overhead on a small one."""

from __future__ import annotations

import mlx.core as mx
from common import (REPEATS, Row, check_close, dense, print_rows, random_nnz_per_row, time_pair,
                    to_mlx, user_row)


def cases():
    return ["spmv_large", "spmv_overhead"]


def _setup(m, nnz_per_row):
    S = random_nnz_per_row(m, m, nnz_per_row, seed=0)
    x = dense(m, seed=1)
    A, xm = to_mlx(S, x)
    check_close(A @ xm, S @ x, f"spmv {m}")
    return S, x, A, xm


def spmv_large(quick=False):
    S, x, A, xm = _setup(100_000, 10)
    return user_row("SpMV 100k x 100k, 10 nnz/row", lambda: A @ xm, lambda: S @ x,
                    REPEATS[quick], 1.8, judged="interleaved")


def spmv_overhead(quick=False):
    """1k x 1k with 10k nnz: the work is a few microseconds, so this is the fixed cost of a
    call. MLX's own share of it is the cost of evaluating one tiny MLX op (its floor: graph
    node, scheduling on the stream's thread, waking the caller), timed in the same pairs;
    the target is on what is left, ours minus that floor. Each sample averages 20 calls."""
    S, x, A, xm = _setup(1_000, 10)
    y = mx.ones(1_000)
    mx.eval(y)
    n = 4 * REPEATS[quick]
    t_ours, t_base = time_pair(lambda: A @ xm, lambda: S @ x, n, number=20)
    t_ours, t_floor = time_pair(lambda: A @ xm, lambda: y + 1, n, number=20)  # side by side
    extra_us = 1e3 * (t_ours.median_ms - t_floor.median_ms)
    return Row("SpMV 1k x 1k, 10k nnz, per call: ours minus MLX's floor", t_ours.median_ms,
               t_base.median_ms, extra_us, f"{extra_us:.1f} us (floor {1e3 * t_floor.median_ms:.1f})",
               "<= 10 us", extra_us <= 10,
               notes=dict(floor_ms=t_floor.median_ms, ours_iqr_ms=t_ours.iqr_ms,
                          base_iqr_ms=t_base.iqr_ms))


def run(quick=False):
    return [spmv_large(quick), spmv_overhead(quick)]


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "SpMV (float32 values, int32 indices)")
