"""SpMM (A @ B, B dense): two sizes vs scipy, per-column cost k=17 vs k=16, torch if present."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from common import (REPEATS, Row, check_close, dense, print_rows, random_density, speedup_row,
                    time_pair, to_mlx, torch_or_none, user_row)

# (name, n, density, k, target speed-up over scipy)
SIZES = [("SpMM 16384 x 16384, density 1e-3, k=64", 16384, 1e-3, 64, 3.0),
         ("SpMM 4096 x 4096, density 1e-2, k=128", 4096, 1e-2, 128, 3.0)]


def cases():
    return [s[0] for s in SIZES] + ["SpMM per-column cost k=17 vs k=16", "torch.sparse SpMM (info)"]


def _setup(n, density, k):
    S = random_density(n, n, density, seed=0)
    B = dense((n, k), seed=1)
    A, Bm = to_mlx(S, B)
    check_close(A @ Bm, S @ B, f"spmm {n} k={k}")
    return S, B, A, Bm


def spmm_sizes(quick=False):
    rows = []
    for name, n, density, k, target in SIZES:
        S, B, A, Bm = _setup(n, density, k)
        rows.append(user_row(name, lambda: A @ Bm, lambda: S @ B, REPEATS[quick], target))
    return rows


def per_column(quick=False):
    # k=17 is one column past a SIMD-friendly width: a kernel with a poor remainder path would
    # cost much more per column there. Ratio = (t17/17) / (t16/16); 1.0 means linear in k.
    S, B17, A, B17m = _setup(4096, 1e-2, 17)
    B16 = B17[:, :16].copy()
    B16m = mx.array(B16)
    mx.eval(B16m)
    n = 2 * REPEATS[quick]  # a ratio of two small times: take more samples
    o16, o17 = time_pair(lambda: A @ B16m, lambda: A @ B17m, n)
    s16, s17 = time_pair(lambda: S @ B16, lambda: S @ B17, n)
    r = (o17.median_ms / 17) / (o16.median_ms / 16)
    rs = (s17.median_ms / 17) / (s16.median_ms / 16)
    return Row("SpMM per-column cost k=17 vs k=16 (4096^2, 1e-2)", o17.median_ms, s17.median_ms,
               r, f"{r:.2f} (scipy {rs:.2f})", "<= 1.25", r <= 1.25,
               notes=dict(ours_k16_ms=o16.median_ms, scipy_k16_ms=s16.median_ms,
                          scipy_ratio=rs, times_shown="k=17"))


def torch_rows(quick=False):
    # Informative only: torch.sparse CSR @ dense on the CPU, against our same product.
    torch = torch_or_none()
    if torch is None:
        return []
    rows = []
    for name, n, density, k, _ in SIZES:
        S, B, A, Bm = _setup(n, density, k)
        T = torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)),
                                    torch.from_numpy(S.indices.astype(np.int64)),
                                    torch.from_numpy(S.data), size=S.shape)
        Bt = torch.from_numpy(B)
        check_close((T @ Bt).numpy(), S @ B, f"torch spmm {n}")
        t_ours, t_torch = time_pair(lambda: A @ Bm, lambda: T @ Bt, REPEATS[quick])
        rows.append(speedup_row(f"{name} vs torch.sparse (info, {torch.get_num_threads()} thr)",
                                t_ours, t_torch, None, baseline="torch"))
    return rows


def run(quick=False):
    return spmm_sizes(quick) + [per_column(quick)] + torch_rows(quick)


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "SpMM (float32 values, int32 indices)")
