"""GPU benchmarks: mlx_sparse on MLX's CUDA backend against cuSPARSE through torch, in one run.

    python benchmarks/bench_gpu.py [--quick] [--json PATH]

On Metal (or without torch's CUDA) there is no reference: ours is timed and checked against
scipy alone, the torch columns print "-" (null in the JSON) and the bandwidth is MLX's x + 1.

Each case prints two times per library: per call (one product, its result ready on return)
and in-graph (many products per evaluation / per synchronisation, the kernel's own cost).
Ratios are torch's time over ours (> 1: we are faster), medians of repeated runs.
A result is ready when mx.eval returns (it waits for the GPU) and after torch's
cuda.synchronize; a further mx.synchronize would add one more wait, about 0.04 ms on an H200.
"""

from __future__ import annotations

import argparse
import json

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

try:
    import torch
except ImportError:
    torch = None

import mlx_sparse as ms
from timing import median_ms

# cuSPARSE through torch.sparse is the reference, on CUDA only; set in main() after use_gpu()
TORCH = False

IN_GRAPH = 20


def median_time(fn, sync, repeats):
    """Median seconds (timing.median_ms)."""
    return median_ms(fn, sync, repeats, warmup=3) / 1e3


def ready():
    """Nothing to wait for: mx.eval has returned with its results computed."""


def mlx_times(make, repeats):
    """make() builds one lazy product; per call and in-graph (IN_GRAPH per eval) seconds."""
    per_call = median_time(lambda: mx.eval(make()), ready, repeats)
    graph = median_time(lambda: mx.eval([make() for _ in range(IN_GRAPH)]), ready,
                        max(3, repeats // 4)) / IN_GRAPH
    return per_call, graph


def torch_times(run, repeats):
    if not TORCH:
        return None
    per_call = median_time(run, torch.cuda.synchronize, repeats)
    graph = median_time(lambda: [run() for _ in range(IN_GRAPH)], torch.cuda.synchronize,
                        max(3, repeats // 4)) / IN_GRAPH
    return per_call, graph


def to_torch(S):
    S = S.tocsr()
    return torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)),
                                   torch.from_numpy(S.indices.astype(np.int64)),
                                   torch.from_numpy(S.data), size=S.shape).cuda()


def uniform(n, nnz_per_row, seed):
    rng = np.random.default_rng(seed)
    indptr = np.arange(n + 1, dtype=np.int64) * nnz_per_row
    indices = rng.integers(0, n, size=n * nnz_per_row)
    S = sp.csr_array((rng.standard_normal(n * nnz_per_row).astype(np.float32), indices, indptr),
                     shape=(n, n))
    S.sum_duplicates()
    return S


def random_density(n, density, seed):
    return sp.random(n, n, density=density, format="csr", dtype=np.float32, random_state=seed)


def power_law(n, edges, seed):
    """Row lengths from a Zipf law (a few rows of tens of thousands), columns uniform."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.zipf(1.8, n), 50_000).astype(np.float64)
    lengths = np.maximum(1, np.round(lengths * edges / lengths.sum())).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = rng.integers(0, n, size=int(indptr[-1]))
    S = sp.csr_array((rng.standard_normal(indices.size).astype(np.float32), indices, indptr),
                     shape=(n, n))
    S.sum_duplicates()
    return S


def copy_bandwidth():
    """Device copy bandwidth (bytes read + written per second), torch, 1 GiB; without torch's
    CUDA, MLX's x + 1 on 256 MiB (one read and one write per element)."""
    if not TORCH:
        x = mx.zeros((64 * 1024 * 1024,))
        mx.eval(x)
        return 2 * x.size * 4 / median_time(lambda: mx.eval(x + 1), ready, 10)
    x = torch.empty(256 * 1024 * 1024, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    t = median_time(lambda: y.copy_(x), torch.cuda.synchronize, 10)
    return 2 * x.numel() * 4 / t


def row(name, ours, theirs, extra=""):
    pc, g = ours
    if theirs is None:
        print(f"| {name} | {pc * 1e3:.3f} / {g * 1e3:.3f} | - | - | {extra} |", flush=True)
        return dict(case=name, ours_ms=[pc * 1e3, g * 1e3], torch_ms=None, ratio=None,
                    note=extra)
    tpc, tg = theirs
    print(f"| {name} | {pc * 1e3:.3f} / {g * 1e3:.3f} | {tpc * 1e3:.3f} / {tg * 1e3:.3f} | "
          f"{tpc / pc:.2f}x / {tg / g:.2f}x | {extra} |", flush=True)
    return dict(case=name, ours_ms=[pc * 1e3, g * 1e3], torch_ms=[tpc * 1e3, tg * 1e3],
                ratio=[tpc / pc, tg / g], note=extra)


def check(ours, ref, name, rtol=1e-3):
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    err = np.abs(ours - ref).max() / max(1.0, np.abs(ref).max())
    if err > rtol:
        raise AssertionError(f"{name}: max relative error {err:.2e}")


def kernel_families(A, B, reps):
    """Both GPU kernel families timed in-graph (ms), whichever the row lengths picked: a
    claimed longest row of 1 forces by_row, unknown lengths force nnz_split."""
    from mlx_sparse import _ext

    prod = _ext.csr_spmv if B.ndim == 1 else _ext.csr_spmm
    times = []
    for lengths in (_ext.RowLengths(1, 1), _ext.RowLengths()):
        _, g = mlx_times(lambda: prod(A.indptr, A.indices, A.data, B, A.shape[1], False, [],
                                      lengths), reps)
        times.append(g * 1e3)
    return "by_row {:.3f} / nnz_split {:.3f} ms in-graph".format(*times)


def spgemm_case(name, S, reps, dense_check):
    """A @ A, both phases (ours reads two sizes back to the host), and our symbolic phase
    alone: the pattern of C, which the numeric phase then fills."""
    from mlx_sparse import _ext

    A, T = ms.csr_array(S), to_torch(S) if TORCH else None
    C = S @ S
    C.sort_indices()
    if dense_check:
        check(ms.spgemm(A, A).toarray(), C.toarray(), "spgemm " + name)
    else:
        check(ms.spgemm(A, A).data, C.data, "spgemm " + name)
    n = max(3, reps // 3)
    def first_product():  # A keeps its last product's pattern: dropped, both phases timed
        A._cache.pop("spgemm", None)
        mx.eval(ms.spgemm(A, A).data)

    ours = median_time(first_product, ready, n)
    symbolic = median_time(lambda: mx.eval(_ext.csr_spgemm_symbolic(
        A.indptr, A.indices, A.indptr, A.indices, A.shape[1])), ready, n)
    theirs = median_time(lambda: T @ T, torch.cuda.synchronize, n) if TORCH else None
    return row(f"SpGEMM A @ A, {name}", (ours,) * 2, (theirs,) * 2 if TORCH else None,
               f"nnz(C) {C.nnz:,}, max row of A {A._lengths().max_row:,}; symbolic phase "
               f"{symbolic * 1e3:.3f} ms of it")


def gcn_step(S, reps, features=64, hidden=64, classes=16):
    """value_and_grad of sum(softmax-free logits^2) of relu(A X W1) -> A H W2, w.r.t. W1, W2."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((S.shape[0], features)).astype(np.float32)
    W1 = (rng.standard_normal((features, hidden)) / 8).astype(np.float32)
    W2 = (rng.standard_normal((hidden, classes)) / 8).astype(np.float32)
    A, Xm = ms.csr_array(S), mx.array(X)

    def loss(w1, w2):
        h = mx.maximum(A @ (Xm @ w1), 0)
        return mx.mean(mx.square(A @ (h @ w2)))

    step = mx.value_and_grad(loss, argnums=(0, 1))
    w1, w2 = mx.array(W1), mx.array(W2)
    if not TORCH:  # the loss against scipy, no gradient reference
        h = np.maximum(S @ (X @ W1), 0)
        check(step(w1, w2)[0], np.mean(np.square(S @ (h @ W2))), "gcn loss", rtol=1e-2)
        ours = mlx_times(lambda: step(w1, w2), max(3, reps // 3))
        return row("GCN step fwd+bwd, power-law graph, 64-64-16", ours, None, "grads of W1, W2")
    T, Xt = to_torch(S), torch.from_numpy(X).cuda()
    t1 = torch.from_numpy(W1).cuda().requires_grad_()
    t2 = torch.from_numpy(W2).cuda().requires_grad_()

    def torch_step():
        h = torch.relu(T @ (Xt @ t1))
        out = torch.mean(torch.square(T @ (h @ t2)))
        g = torch.autograd.grad(out, (t1, t2))
        return out, g

    lo, (g1, g2) = step(w1, w2)
    tl, (tg1, tg2) = torch_step()
    check(g1, tg1.cpu().numpy(), "gcn grad W1", rtol=1e-2)
    ours = mlx_times(lambda: step(w1, w2), max(3, reps // 3))
    theirs = torch_times(torch_step, max(3, reps // 3))
    return row("GCN step fwd+bwd, power-law graph, 64-64-16", ours, theirs, "grads of W1, W2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    reps = 10 if args.quick else 30
    if ms.use_gpu() != mx.gpu:  # warned why (no GPU, or a Metal family did not compile)
        raise SystemExit("bench_gpu: the GPU is not in use; nothing to time")
    global TORCH
    TORCH = torch is not None and torch.cuda.is_available()
    rows = []
    bw = copy_bandwidth()
    gpu = torch.cuda.get_device_name() if TORCH else mx.device_info(mx.gpu)["device_name"]
    print(f"GPU: {gpu}; copy bandwidth {bw / 1e12:.2f} TB/s (read+write)"
          + ("" if TORCH else "; no torch CUDA here: no reference, ours checked against scipy"))
    print("| case | ours ms (call / in-graph) | torch ms (call / in-graph) | speed-up | note |")
    print("|---|---:|---:|---:|---|")

    # SpMV 1M x 1M, 10 nnz/row
    S = uniform(1_000_000 if not args.quick else 200_000, 10, 0)
    x = np.random.default_rng(1).standard_normal(S.shape[1]).astype(np.float32)
    A, xm = ms.csr_array(S), mx.array(x)
    T, xt = (to_torch(S), torch.from_numpy(x).cuda()) if TORCH else (None, None)
    check(A @ xm, S @ x, "spmv")
    ours, theirs = mlx_times(lambda: A @ xm, reps), torch_times(lambda: T @ xt, reps)
    moved = S.nnz * 8 + (S.shape[0] + 1) * 4 + S.shape[1] * 4 + S.shape[0] * 4
    # the gather every SpMV does, alone: x at the pattern's columns (random over 1M columns,
    # so each 4-byte read costs a 32-byte sector), by torch, in-graph
    gather = ""
    if TORCH:
        cols = T.col_indices().to(torch.int32)
        gather = torch_times(lambda: torch.index_select(xt, 0, cols), reps)[1]
        gather = f"gather of x alone {gather * 1e3:.3f} ms; "
    rows.append(row(f"SpMV {S.shape[0]:,}^2, 10 nnz/row", ours, theirs,
                    f"in-graph {moved / ours[1] / bw * 100:.0f}% of copy bandwidth; "
                    + gather + kernel_families(A, xm, reps)))

    # SpMM and SDDMM on three patterns
    patterns = [("16384^2, 1e-3, k=64", random_density(16384, 1e-3, 2), 64),
                ("4096^2, 1e-2, k=128", random_density(4096, 1e-2, 3), 128)]
    if not args.quick:
        patterns.append(("power-law 1M nodes, ~16M edges, k=64", power_law(1_000_000, 16_000_000, 4), 64))
    for name, S, k in patterns:
        rng = np.random.default_rng(5)
        B = rng.standard_normal((S.shape[1], k)).astype(np.float32)
        A, Bm = ms.csr_array(S), mx.array(B)
        T, Bt = (to_torch(S), torch.from_numpy(B).cuda()) if TORCH else (None, None)
        check(A @ Bm, S @ B, "spmm " + name)
        ours, theirs = mlx_times(lambda: A @ Bm, reps), torch_times(lambda: T @ Bt, reps)
        rows.append(row(f"SpMM {name}", ours, theirs,
                        f"nnz {S.nnz:,}, max row {A._lengths().max_row:,}; "
                        + kernel_families(A, Bm, reps)))
        X = rng.standard_normal((S.shape[0], k)).astype(np.float32)
        Xm = mx.array(X)
        if TORCH:
            Xt = torch.from_numpy(X).cuda()
            BtT = Bt.t().contiguous()
            Tp = torch.sparse_csr_tensor(T.crow_indices(), T.col_indices(),
                                         torch.ones_like(T.values()), size=T.shape)
        ref = (X[S.tocoo().row] * B[S.tocoo().col]).sum(1)
        check(ms.sddmm(A, Xm, Bm).data, ref, "sddmm " + name)
        ours = mlx_times(lambda: ms.sddmm(A, Xm, Bm).data, reps)
        theirs = torch_times(lambda: torch.sparse.sampled_addmm(Tp, Xt, BtT, beta=0.0), reps)
        rows.append(row(f"SDDMM {name}", ours, theirs,
                        "torch.sparse.sampled_addmm" if TORCH else ""))

    # SpGEMM A @ A: symbolic (hash count, fill) and numeric phases on the GPU
    rows.append(spgemm_case("16384^2, 8 nnz/row", uniform(16384, 8, 6), reps, args.quick))
    if not args.quick:
        rows.append(spgemm_case("power-law 100k nodes, ~1M edges", power_law(100_000, 1_000_000, 8),
                                reps, False))

    # forward + backward of a 2-layer GCN step (weights' gradients) on the power-law graph
    if not args.quick:
        rows.append(gcn_step(patterns[-1][1], reps))

    # what one call costs each framework itself: an elementwise op on 1M floats
    z = mx.zeros((1_000_000,))
    call = dict(mlx_ms=median_time(lambda: mx.eval(z + 1), ready, reps) * 1e3, torch_ms=None)
    if TORCH:
        zt = torch.zeros(1_000_000, device="cuda")
        call["torch_ms"] = median_time(lambda: zt + 1, torch.cuda.synchronize, reps) * 1e3
    print(f"(per-call cost of z + 1 on 1M floats: MLX {call['mlx_ms']:.3f} ms"
          + (f", torch {call['torch_ms']:.3f} ms)" if TORCH else ")"))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(gpu=gpu, copy_bandwidth=bw, rows=rows,
                           elementwise_call=call), f, indent=1)


if __name__ == "__main__":
    main()
