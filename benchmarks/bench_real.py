"""SpMV and SpMM (k = 32) on real matrices (benchmarks/real_matrices.py) against scipy.

For 1 and 2 threads of ours (scipy's sparse products use one), three ways of timing:

- back-to-back: blocks of calls of each side in a loop (common.time_pair);
- after scipy: ours and scipy in strict alternation, so each of our calls follows a scipy call;
- after an MLX op: the same, with an unrelated small MLX op (untimed) before every timed call.

Targets (issue 16): SpMV with 1 thread back-to-back >= 1.0x scipy on every matrix, geometric
mean >= 1.2x; SpMV and SpMM k=32 with 2 threads, interleaved, geometric mean >= 1.8x.

    python benchmarks/bench_real.py [--quick] [--only NAME ...] [--cache DIR]

The matrices are fetched on first use (see real_matrices.py); the tests never run this.
"""

from __future__ import annotations

import argparse
import os

import mlx.core as mx
import numpy as np

from common import (REPEATS, Row, check_close, dense, ms, print_rows, speedup_row,
                    time_interleaved, time_pair, to_mlx, unrelated_mlx_op)
from real_matrices import MATRICES, describe, load, print_table

K = 32
THREADS = (1, 2)
MODES = ("back-to-back", "after scipy", "after MLX op")
LARGE_NNZ = 200_000


def _time(mode, ours, base, repeats, between):
    if mode == "back-to-back":
        return time_pair(ours, base, repeats)
    return time_interleaved(ours, base, repeats, between if mode == "after MLX op" else None)


def matrix_rows(m, S, quick):
    """Rows of one matrix: (product, threads, mode) -> Row, each checked against scipy once."""
    x, B = dense(S.shape[1], seed=1), dense((S.shape[1], K), seed=2)
    A, xm, Bm = to_mlx(S, x, B)
    check_close(A @ xm, S @ x, f"{m.name} SpMV")
    check_close(A @ Bm, S @ B, f"{m.name} SpMM")
    between = unrelated_mlx_op()
    rows = {}
    for threads in THREADS:
        ms.set_num_threads(threads)
        for product, ours, base in (("SpMV", lambda: A @ xm, lambda: S @ x),
                                    ("SpMM k=32", lambda: A @ Bm, lambda: S @ B)):
            for mode in MODES:
                t_ours, t_base = _time(mode, ours, base, REPEATS[quick], between)
                target = 1.0 if (product, threads, mode) == ("SpMV", 1, "back-to-back") else None
                rows[product, threads, mode] = speedup_row(
                    f"{m.name} {product} {threads}thr {mode}", t_ours, t_base, target)
    return rows


def geomean_row(name, rows, target):
    """Geometric means of times and of the speed-ups (the same number as the ratio of the time
    geomeans) over matrices."""
    g = lambda v: float(np.exp(np.mean(np.log(v))))  # noqa: E731
    r = g([row.ratio for row in rows])
    return Row(name, g([row.ours_ms for row in rows]), g([row.base_ms for row in rows]), r,
               f"{r:.2f}x", "-" if target is None else f">= {target:g}x",
               None if target is None else r >= target)


# (product, threads, mode) groups whose geometric mean has a target
GEOMEAN_TARGETS = {("SpMV", 1, "back-to-back"): 1.2,
                   ("SpMV", 2, "after scipy"): 1.8, ("SpMV", 2, "after MLX op"): 1.8,
                   ("SpMM k=32", 2, "after scipy"): 1.8, ("SpMM k=32", 2, "after MLX op"): 1.8}


def run(quick=False, only=None, cache=None):
    unknown = set(only or ()) - {m.name for m in MATRICES}
    if unknown:
        raise ValueError(f"[bench_real] unknown matrices {sorted(unknown)}; "
                         f"known: {[m.name for m in MATRICES]}")
    chosen = [m for m in MATRICES if not only or m.name in only]
    loaded = [(m, load(m, cache)) for m in chosen]
    print_table([describe(m, S) for m, S in loaded])
    per_matrix = []
    for m, S in loaded:
        rows = matrix_rows(m, S, quick)
        print_rows(rows.values(), f"\n{m.name}")
        per_matrix.append(rows)
    ms.set_num_threads(max(THREADS))
    # the targets are judged over all matrices; the large ones alone show the kernels without
    # the fixed cost of a call (tens of microseconds, most of a small matrix's SpMV)
    large = [rows for rows, (_, S) in zip(per_matrix, loaded) if S.nnz >= LARGE_NNZ]
    summary = []
    for group, label, judged in ((per_matrix, "matrices", True),
                                  (large, f"with nnz >= {LARGE_NNZ:,}", False)):
        summary += [geomean_row(f"geomean {p} {t}thr {mode} ({len(group)} {label})",
                                [rows[p, t, mode] for rows in group],
                                GEOMEAN_TARGETS.get((p, t, mode)) if judged else None)
                    for p in ("SpMV", "SpMM k=32") for t in THREADS for mode in MODES if group]
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{REPEATS[True]} samples a case")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="matrices to run (default: all)")
    ap.add_argument("--cache", help="matrix cache folder (see real_matrices.py)")
    args = ap.parse_args()
    load1, load5, _ = os.getloadavg()
    print(f"mlx {mx.__version__}, CPU kernels {ms.kernel_isa()}, threads {THREADS} (scipy: 1), "
          f"float32 values, int32 indices, {'quick' if args.quick else 'full'} run; "
          f"load average {load1:.2f} (1 min) {load5:.2f} (5 min) on {os.cpu_count()} cores")
    print_rows(run(args.quick, args.only, args.cache),
               "\nGeometric means over matrices (ratio = scipy / ours)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
