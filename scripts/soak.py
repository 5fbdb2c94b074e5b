"""Soak: every op, and every kind of refused input, in a long loop; fails on growth.

Run under AddressSanitizer by ``scripts/sanitize.sh`` (a crash or a bad access aborts it),
and with a timeout by CI (a hang fails it). Growth is measured twice per op, as MLX's active
memory (exact) and as the process's resident size (coarse: allocator caches, ASan's
quarantine), between the end of a warm-up tenth and the end of the loop.

    python scripts/soak.py [--iterations N] [--ops spmv,spmm,...]
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import time

import mlx.core as mx
import numpy as np

import mlx_sparse as ms

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def ops():
    A = ms.random(200, 150, density=0.05, seed=0)
    U = ms.csr_array((np.ones(5, np.float32), np.array([3, 1, 1, 0, 2]), np.array([0, 3, 5])), shape=(2, 4))
    x, B = mx.ones((150,)), mx.ones((150, 8))
    X, Y = mx.ones((200, 4)), mx.ones((150, 4))
    bad = (np.ones(2, np.float32), np.array([0, 9]), np.array([0, 1, 2]))

    def refused(f):
        try:
            f()
        except (ValueError, TypeError, OverflowError):
            return None
        raise AssertionError("bad input was accepted")

    def build_bad():
        return ms.csr_array(bad, shape=(2, 3))

    chain = [A]

    def transpose_chain():  # B = B.T while A lives
        chain[0] = chain[0].T
        return chain[0].data

    return {
        "spmv": lambda: A @ x,
        "spmm": lambda: A @ B,
        "vecmat": lambda: ms.matmul(mx.ones((200,)), A),
        "sddmm": lambda: ms.sddmm(A, X, Y).data,
        "spgemm": lambda: (A @ A.T).data,
        "softmax": lambda: ms.softmax(A).data,
        "todense": lambda: A.todense(),
        "transpose": lambda: A.T.data,
        "transpose_chain": transpose_chain,
        "construct_coo": lambda: ms.csr_array((np.ones(3), ([0, 1, 1], [2, 0, 2])), shape=(2, 3)).data,
        "canonicalise": lambda: U.copy().sum_duplicates().data,
        "add": lambda: (A + A.T.T).data,
        "multiply": lambda: A.multiply(A.T.T).data,
        "grad": lambda: mx.grad(lambda v: (A.with_data(v) @ B).sum())(A.data),
        "pickle": lambda: pickle.loads(pickle.dumps(A)).data,
        "refused_structure": lambda: refused(lambda: build_bad() @ mx.ones((3,))),
        "refused_operand": lambda: refused(lambda: A @ None),
        "refused_shape": lambda: refused(lambda: A @ mx.ones((7,))),
    }


def soak(name, op, iterations, check_every=100):
    warm = max(1, iterations // 10)
    for i in range(iterations):
        out = op()
        if out is not None and (i % check_every == 0 or i == iterations - 1):
            mx.eval(out)
        elif out is not None:
            mx.async_eval(out)
        if i == warm - 1:
            mx.synchronize()
            gc.collect()
            mx.clear_cache()
            active0, rss0 = mx.get_active_memory(), rss()
    mx.synchronize()
    gc.collect()
    mx.clear_cache()
    return mx.get_active_memory() - active0, rss() - rss0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=100_000)
    ap.add_argument("--ops", default="", help="comma-separated subset")
    ap.add_argument("--rss-limit-mib", type=float, default=64.0)
    args = ap.parse_args()
    table = ops()
    names = [n for n in args.ops.split(",") if n] or list(table)
    failed = []
    for name in names:
        t0 = time.perf_counter()
        active, resident = soak(name, table[name], args.iterations)
        ok = active <= 0 and resident <= args.rss_limit_mib * 2**20
        print(f"{name:18s} {args.iterations} iterations  {time.perf_counter() - t0:7.1f} s  "
              f"MLX active {active / 2**20:+7.2f} MiB  RSS {resident / 2**20:+7.2f} MiB  "
              f"{'ok' if ok else 'GROWTH'}", flush=True)
        if not ok:
            failed.append(name)
    if failed:
        raise SystemExit(f"growth in: {', '.join(failed)}")
    print("soak passed")


if __name__ == "__main__":
    main()
