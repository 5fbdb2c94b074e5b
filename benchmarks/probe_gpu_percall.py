"""Where a single GPU call's time goes (issue 13's per-call cost): for block-sparse flash
attention, blocksparse.matmul, BSRArray @ dense and a dense MLX matmul of similar cost, the
median of (graph building alone), (evaluation alone), (one call built and evaluated) and
(one call of a graph of ten), and a CUPTI trace of one call through torch.profiler when it
sees MLX's CUDA work. Needs MLX's CUDA build.

    python benchmarks/probe_gpu_percall.py
"""

from __future__ import annotations

import os
import statistics
import time

import mlx.core as mx
import numpy as np

import mlx_sparse as ms
import mlx_sparse.blocksparse as bs
import scipy.sparse as sp
from bench_blocksparse import block_layout, window_layout


def med_ms(fn, repeats=15, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def phases(name, make):
    """Medians (ms) of building, evaluating, both, and per call within a graph of ten."""
    built = []

    def build():
        built.append(make())

    def evaluate():
        mx.eval(built.pop())

    t_build = med_ms(build, repeats=15)
    built.clear()
    tb, te = [], []
    for _ in range(18):
        t0 = time.perf_counter()
        out = make()
        t1 = time.perf_counter()
        mx.eval(out)
        t2 = time.perf_counter()
        tb.append(t1 - t0)
        te.append(t2 - t1)
    tb, te = tb[3:], te[3:]
    per_call = med_ms(lambda: mx.eval(make()))
    graph = med_ms(lambda: mx.eval([make() for _ in range(10)]), repeats=5) / 10
    sync = med_ms(lambda: (mx.eval(make()), mx.synchronize()))
    print(f"| {name} | {t_build:.3f} | {1e3 * statistics.median(tb):.3f} | "
          f"{1e3 * statistics.median(te):.3f} | {per_call:.3f} | {sync:.3f} | {graph:.3f} |",
          flush=True)


def trace(name, make):
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        print("(no torch: no trace)")
        return
    for _ in range(3):
        mx.eval(make())
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            mx.eval(make())
        torch.cuda.synchronize()
    print(f"\n#### trace of 3 calls: {name}\n```")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    print("```", flush=True)


def main():
    small = os.environ.get("PROBE_SMALL")  # a quick check of the script on a CPU
    heads, seq, d, size = (2, 1024, 64, 64) if small else (32, 8192, 64, 64)
    rng = np.random.default_rng(1)
    dt = mx.float16
    q, k, v = (mx.array(rng.standard_normal((heads, seq, d)).astype(np.float32)).astype(dt)
               for _ in range(3))
    lay = window_layout(seq // size, 5, 1)
    lay_mx = mx.array(lay)
    n = 1024 if small else 8192
    lay_mm = block_layout(rng, n // size, n // size, 0.1)
    xd = np.where(np.repeat(np.repeat(lay_mm[0], size, 0), size, 1),
                  rng.standard_normal((n, n)), 0).astype(np.float32)
    xm = mx.array(xd).astype(dt)
    ym = mx.array(rng.standard_normal((n, n)).astype(np.float32)).astype(dt)
    full = np.ones((1, n // size, n // size), bool)
    xs, ys = bs.to_sparse(xm[None], lay_mm, size), bs.to_sparse(ym[None], full, size)
    A = ms.bsr_array(sp.bsr_array(xd, blocksize=(size, size)), dtype=dt)
    mx.eval(q, k, v, lay_mx, xs, ys, ym)
    dense_a = mx.array(rng.standard_normal((4096, 4096)).astype(np.float32)).astype(dt)
    mx.eval(dense_a)
    cases = [
        ("flash_attention fwd (numpy layout)", lambda: bs.flash_attention(q, k, v, lay)),
        ("flash_attention fwd (mx layout)", lambda: bs.flash_attention(q, k, v, lay_mx)),
        ("flash_attention fwd+bwd", lambda: mx.vjp(lambda a, b, c: bs.flash_attention(a, b, c, lay),
                                                   [q, k, v], [q])[1]),
        ("bs.matmul 10% (compressed, full y and out)",
         lambda: bs.matmul(xs, lay_mm, ys, full, full, size)),
        ("BSRArray @ dense 10%", lambda: A @ ym),
        ("mx.matmul 4096^3 (reference)", lambda: dense_a @ dense_a),
    ][: 5 if small else 6]
    print(f"GPU per-call phases, ms (medians); device {mx.default_device()}\n")
    print("| case | build | build (in call) | eval (in call) | per call | per call + sync | "
          "in a graph of 10 |\n|---|---|---|---|---|---|---|")
    for name, make in cases:
        try:
            phases(name, make)
        except Exception as e:  # noqa: BLE001  (a probe: report and go on)
            print(f"| {name} | failed: {type(e).__name__}: {str(e)[:200]} |")
    for name, make in cases[:1] + cases[3:4]:
        try:
            trace(name, make)
        except Exception as e:  # noqa: BLE001
            print(f"(trace of {name} failed: {type(e).__name__}: {str(e)[:300]})")


if __name__ == "__main__":
    main()
