"""SpMV (A @ x): throughput on a large matrix, and per-call overhead on a small one."""

from __future__ import annotations

from common import (REPEATS, Row, check_close, dense, print_rows, random_nnz_per_row, speedup_row,
                    time_pair, to_mlx)


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
    t_ours, t_base = time_pair(lambda: A @ xm, lambda: S @ x, REPEATS[quick])
    return speedup_row("SpMV 100k x 100k, 10 nnz/row", t_ours, t_base, 1.5)


def spmv_overhead(quick=False):
    # 1k x 1k with 10k nnz: the work is ~10 us, so this measures the fixed cost of a call
    # (Python dispatch, graph node, mx.eval; mx.eval alone of a trivial MLX op is ~30 us
    # here). Each sample averages 20 calls.
    S, x, A, xm = _setup(1_000, 10)
    t_ours, t_base = time_pair(lambda: A @ xm, lambda: S @ x, 4 * REPEATS[quick], number=20)
    r = t_ours.median_ms / t_base.median_ms  # here smaller is better: ours / scipy
    return Row("SpMV 1k x 1k, 10k nnz (per-call overhead)", t_ours.median_ms, t_base.median_ms,
               r, f"ours/scipy {r:.2f}", "ours/scipy <= 3", r <= 3,
               notes=dict(ours_iqr_ms=t_ours.iqr_ms, base_iqr_ms=t_base.iqr_ms))


def run(quick=False):
    return [spmv_large(quick), spmv_overhead(quick)]


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "SpMV (float32 values, int32 indices)")
