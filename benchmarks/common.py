"""Shared benchmark helpers: timing (median and IQR), seeded test matrices, result rows.

Timing rules: MLX is lazy, so an MLX callable's result is evaluated (``mx.eval``) inside the
timed region, otherwise we would time only graph building. Ours and the baseline are timed
interleaved (a, b, b, a, ...) so that slow drifts of a noisy machine hit both alike.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

# benchmarks/ is run as scripts (`python benchmarks/bench_spmm.py`): make mlx_sparse importable
# from the repository root without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mlx_sparse as ms  # noqa: E402



REPEATS = {False: 25, True: 7}  # per timing sample count: full run, --quick
WARMUP = 2


def _sync(out):
    """Force an MLX result (array, CSRArray, or a tree of them); other results are already done."""
    if isinstance(out, (mx.array, dict, list, tuple)):
        mx.eval(out)
    return out


@dataclass
class Timing:
    median_ms: float
    iqr_ms: float
    samples: int


def _summary(times_s: list[float]) -> Timing:
    q1, med, q3 = np.percentile(np.asarray(times_s) * 1e3, [25, 50, 75])
    return Timing(float(med), float(q3 - q1), len(times_s))


def _one(fn, number):
    t = time.perf_counter()
    for _ in range(number):
        _sync(fn())
    return (time.perf_counter() - t) / number


def time_fn(fn, repeats=25, warmup=WARMUP, number=1) -> Timing:
    """Median and IQR (ms) of `repeats` samples, each the mean of `number` calls of fn()."""
    for _ in range(warmup):
        _sync(fn())
    return _summary([_one(fn, number) for _ in range(repeats)])


def time_pair(fa, fb, repeats=25, warmup=WARMUP, number=1, block=10) -> tuple[Timing, Timing]:
    """time_fn for two callables, side by side: blocks of `block` back-to-back calls of each,
    alternating, so both are timed warm (as in a loop) and share the machine's drift.

    On this 2-core VM the first calls after the other side's block (which leaves one core
    idle) run up to 2x slower, for ours (two threads) more than for scipy (one); two untimed
    calls open each block so that both sides are timed in the steady state of a loop.
    """
    for _ in range(warmup):
        _sync(fa()), _sync(fb())
    ta, tb = [], []
    for i in range(0, repeats, block):
        n = min(block, repeats - i)
        first, second = ((fa, ta), (fb, tb)) if (i // block) % 2 == 0 else ((fb, tb), (fa, ta))
        for fn, out in (first, second):
            _sync(fn()), _sync(fn())  # untimed: the block starts warm
            out.extend(_one(fn, number) for _ in range(n))
    return _summary(ta), _summary(tb)


def time_interleaved(fa, fb, repeats=25, between=None, warmup=WARMUP) -> tuple[Timing, Timing]:
    """Median and IQR (ms) of single calls of fa and fb in strict alternation (a, b, a, b, ...),
    with between() run untimed before each timed call when given: neither side runs warm in a
    loop, as in a program that does other work (the other library, or an unrelated op) between
    products."""
    for _ in range(warmup):
        _sync(fa()), _sync(fb())
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fa, ta), (fb, tb)):
            if between is not None:
                _sync(between())
            out.append(_one(fn, 1))
    return _summary(ta), _summary(tb)

# ---- test matrices (scipy CSR, float32 values, int32 indices, canonical)

def _as_f32_i32(S) -> sp.csr_array:
    S = sp.csr_array(S, dtype=np.float32)
    S.sum_duplicates()  # canonical: sorted, no duplicates
    S.indices = S.indices.astype(np.int32)
    S.indptr = S.indptr.astype(np.int32)
    return S


def random_nnz_per_row(m, n, nnz_per_row, seed=0) -> sp.csr_array:
    """About `nnz_per_row` uniformly placed entries in each row (rare collisions merge)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(m), nnz_per_row)
    cols = rng.integers(0, n, size=m * nnz_per_row)
    vals = rng.standard_normal(m * nnz_per_row).astype(np.float32)
    return _as_f32_i32(sp.coo_array((vals, (rows, cols)), shape=(m, n)))


def random_density(m, n, density, seed=0) -> sp.csr_array:
    """Uniformly placed entries with the given density, standard normal values."""
    rng = np.random.default_rng(seed)
    S = sp.random_array((m, n), density=density, format="csr", dtype=np.float32, rng=rng,
                        data_sampler=lambda size: rng.standard_normal(size))
    return _as_f32_i32(S)


def dense(shape, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def to_mlx(S, *dense_arrays):
    """CSRArray and mx arrays for the operands, evaluated so that timing excludes the copy."""
    out = [ms.csr_array(S)] + [mx.array(d) for d in dense_arrays]
    mx.eval(out)
    return out


def check_close(ours, ref, name, rtol=1e-4):
    """Guard against timing a wrong answer: compare once with scipy (float32 tolerance)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    err = np.max(np.abs(ours - ref), initial=0.0)
    scale = max(np.max(np.abs(ref), initial=0.0), 1.0)
    if err > rtol * scale:
        raise AssertionError(f"{name}: max |error| {err:.3g} exceeds {rtol * scale:.3g}")


# ---- result rows

@dataclass
class Row:
    case: str
    ours_ms: float
    base_ms: float | None  # None: no baseline (e.g. torch absent)
    ratio: float | None    # the number judged against the target (usually baseline/ours)
    ratio_text: str        # how to show `ratio` (its meaning differs for a few rows)
    target: str            # e.g. ">= 1.5x"; "-" for informative rows
    met: bool | None       # None for informative rows
    baseline: str = "scipy"
    notes: dict = field(default_factory=dict)

    def as_dict(self):
        return asdict(self)


def speedup_row(case, t_ours: Timing, t_base: Timing, min_speedup, baseline="scipy", **notes):
    """A row judged by speed-up = baseline / ours >= min_speedup (None: informative)."""
    r = t_base.median_ms / t_ours.median_ms
    notes.update(ours_iqr_ms=t_ours.iqr_ms, base_iqr_ms=t_base.iqr_ms)
    return Row(case, t_ours.median_ms, t_base.median_ms, r, f"{r:.2f}x",
               "-" if min_speedup is None else f">= {min_speedup:g}x",
               None if min_speedup is None else r >= min_speedup, baseline, notes)


def unrelated_mlx_op():
    """An untimed MLX op to run between calls: 64k float32 scaled and summed, small, through
    MLX's scheduler and a fresh buffer (as a program's other work would)."""
    w = mx.arange(1 << 16, dtype=mx.float32)
    return lambda: (w * 1.0001).sum()


def user_row(case, ours, base, repeats, min_speedup, baseline="scipy", judged="back-to-back",
             **notes):
    """speedup_row of back-to-back calls (time_pair) at the pool's size, with two more views of
    the same pair in its notes, as users meet them: `interleaved` (strict alternation, an
    unrelated MLX op before every timed call) and `one_thread` (back to back, our pool at 1
    thread; scipy's products use one). Both are baseline / ours. `judged` names the view
    that min_speedup applies to ("back-to-back", "interleaved" or "1 thread")."""
    t_ours, t_base = time_pair(ours, base, repeats)
    i_ours, i_base = time_interleaved(ours, base, repeats, unrelated_mlx_op())
    threads = ms.num_threads()
    ms.set_num_threads(1)
    try:
        o_ours, o_base = time_pair(ours, base, repeats)
    finally:
        ms.set_num_threads(threads)
    notes.update(interleaved=i_base.median_ms / i_ours.median_ms,
                 one_thread=o_base.median_ms / o_ours.median_ms)
    row = speedup_row(case, t_ours, t_base, min_speedup, baseline, **notes)
    if min_speedup is not None and judged != "back-to-back":
        view = notes["interleaved" if judged == "interleaved" else "one_thread"]
        row.target, row.met = f"{judged} >= {min_speedup:g}x", view >= min_speedup
    return row


def print_rows(rows, title=None):
    """A plain table for the standalone scripts (run.py prints the markdown one)."""
    if title:
        print(title)
    print(f"{'case':<58s} {'ours ms':>9s} {'base ms':>9s} {'ratio':>22s} {'interleaved':>12s} "
          f"{'1 thread':>9s} {'target':>16s}  met")
    for r in rows:
        base = "-" if r.base_ms is None else f"{r.base_ms:9.3f}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        inter, one = (ratio_note(r, key) for key in ("interleaved", "one_thread"))
        print(f"{r.case:<58s} {r.ours_ms:9.3f} {base:>9s} {r.ratio_text:>22s} {inter:>12s} "
              f"{one:>9s} {r.target:>16s}  {met}")


def ratio_note(row, key) -> str:
    value = row.notes.get(key)
    return "-" if value is None else f"{value:.2f}x"


def torch_or_none():
    """torch if importable (only for informative rows; it is not a dependency)."""
    try:
        import torch
    except Exception:  # absent or broken install: skip its rows
        return None
    return torch
