"""Row gathers (A[rows]) and slices of a large CSRArray against scipy's csr_array.

The result is evaluated inside the timed region (its values are a lazy MLX gather).
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from common import REPEATS, check_close, print_rows, random_nnz_per_row, speedup_row, time_pair, to_mlx


def cases():
    return ["row_gather", "row_slice", "column_gather"]


_CACHE = {}


def _matrix():
    """1M x 1M, 10 nnz per row (built once: it takes seconds)."""
    if "A" not in _CACHE:
        S = random_nnz_per_row(1_000_000, 1_000_000, 10, seed=0)
        (A,) = to_mlx(S)
        _CACHE["A"] = (S, A)
    return _CACHE["A"]


def _check(ours, ref, name):
    check_close(ours.toarray() if hasattr(ours, "toarray") else ours, ref.toarray(), name)


def row_gather(quick=False):
    S, A = _matrix()
    rows = np.random.default_rng(1).integers(0, S.shape[0], 10_000)
    _check(A[rows][:, :1000], S[rows][:, :1000], "A[rows]")
    t_ours, t_base = time_pair(lambda: A[rows], lambda: S[rows], REPEATS[quick])
    # MLX's share: evaluating one tiny op (the values are one lazy MLX primitive), side by side
    y = mx.ones(16)
    mx.eval(y)
    t_again, t_floor = time_pair(lambda: A[rows], lambda: y + 1, REPEATS[quick])
    floor_ms = t_floor.median_ms
    print(f"A[rows]: ours {t_again.median_ms:.3f} ms, of which MLX's floor (one tiny op) "
          f"{floor_ms:.3f} ms; ours minus the floor {t_again.median_ms - floor_ms:.3f} ms")
    return speedup_row("A[rows]: 10k random rows of 1M x 1M, 10 nnz/row", t_ours, t_base, 1.5,
                       floor_ms=floor_ms)


def row_slice(quick=False):
    S, A = _matrix()
    _check(A[500_000:510_000, :1000], S[500_000:510_000, :1000], "A[a:b]")
    t_ours, t_base = time_pair(lambda: A[500_000:600_000], lambda: S[500_000:600_000],
                               REPEATS[quick])
    return speedup_row("A[a:b]: 100k contiguous rows of 1M x 1M", t_ours, t_base, None)


def column_gather(quick=False):
    S, A = _matrix()
    S = S[:100_000]
    A = A[:100_000]
    cols = np.random.default_rng(2).integers(0, S.shape[1], 1_000)
    _check(A[:, cols], S[:, cols], "A[:, cols]")
    t_ours, t_base = time_pair(lambda: A[:, cols], lambda: S[:, cols], REPEATS[quick])
    return speedup_row("A[:, cols]: 1k random columns of 100k x 1M", t_ours, t_base, None)


def run(quick=False):
    return [row_gather(quick), row_slice(quick), column_gather(quick)]


if __name__ == "__main__":
    import sys

    print_rows(run("--quick" in sys.argv), "Indexing (float32 values, int32 indices; medians)")
