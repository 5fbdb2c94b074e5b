"""Block sparsity (issue 13): block-sparse matmul and block-sparse flash attention against
dense MLX, and, where they are installed, torch (BSR matmul, SDPA) and blksprs, in one run.

    python benchmarks/bench_blocksparse.py [--quick] [--json PATH]

On a GPU stream (MLX's CUDA build): the issue's cases, 8192^3 at 10 % and 25 % of 64 x 64
blocks in float16 and bfloat16, and attention with B*H = 32, seq 8192, d 64, block 64, a
sliding window of +-5 blocks plus a global first block row and column. On the CPU: BSR @
dense, 4096^2, block 32, 10 % of blocks, k = 256, float32: the block kernel (bsr_spmm), the
CSR path and scipy's bsr_array, interleaved, with all threads and 1; bs.matmul's DSD and SDD
forms, block kernels against its MLX-op path; and a smaller attention case: the fused
kernels against the MLX-op path and MLX's dense sdpa, 2 threads and 1. Times are medians in
ms; "in-graph" runs
several products per evaluation (the kernel's own cost); ratios are theirs / ours.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms
from timing import median_ms
import mlx_sparse.blocksparse as bs

try:
    import torch
    TORCH = torch.cuda.is_available()
except ImportError:
    torch, TORCH = None, False
try:
    import blksprs
except ImportError:
    blksprs = None

IN_GRAPH = 10
ROWS = []


def mlx_ms(make, repeats):
    """(per call, in-graph) of a lazy MLX computation ``make()``."""
    per_call = median_ms(lambda: mx.eval(make()), repeats=repeats)
    graph = median_ms(lambda: mx.eval([make() for _ in range(IN_GRAPH)]),
                      repeats=max(3, repeats // 3)) / IN_GRAPH
    return per_call, graph


def torch_ms(run, repeats):
    sync = torch.cuda.synchronize if TORCH else (lambda: None)
    per_call = median_ms(run, sync, repeats)
    graph = median_ms(lambda: [run() for _ in range(IN_GRAPH)], sync, max(3, repeats // 3)) / IN_GRAPH
    return per_call, graph


def report(case, name, times, baseline=None, note=""):
    pc, g = times
    ratio = "" if baseline is None else f"{baseline[1] / g:.2f}x"
    print(f"| {case} | {name} | {pc:.3f} | {g:.3f} | {ratio} | {note} |", flush=True)
    ROWS.append(dict(case=case, impl=name, per_call_ms=pc, in_graph_ms=g, note=note))


def header(title):
    print(f"\n### {title}\n\n| case | implementation | per call ms | in-graph ms | "
          f"ref in-graph / this | note |\n|---|---|---|---|---|---|", flush=True)


def block_layout(rng, mb, nb, density):
    lay = np.zeros((1, mb, nb), bool)
    lay.reshape(-1)[rng.choice(mb * nb, size=max(1, round(density * mb * nb)), replace=False)] = True
    return lay


def window_layout(n_blocks, window, global_blocks):
    return np.asarray(bs.layouting.build_sliding_window_layout(1, n_blocks, window, global_blocks))


def matmul_cases(n, size, densities, dtypes, k, repeats):
    header(f"block-sparse matmul: ({n} x {n}, blocks {size}) @ dense ({n} x {k})")
    rng = np.random.default_rng(0)
    for density in densities:
        lay = block_layout(rng, n // size, n // size, density)
        for dtype in dtypes:
            case = f"{n}x{n}x{k} {round(100 * density)}% {str(dtype).split('.')[-1]}"
            x = np.where(np.repeat(np.repeat(lay[0], size, 0), size, 1),
                         rng.standard_normal((n, n)), 0).astype(np.float32)
            y = rng.standard_normal((n, k)).astype(np.float32)
            xm, ym = mx.array(x).astype(dtype), mx.array(y).astype(dtype)
            dense_t = mlx_ms(lambda: xm @ ym, repeats)
            report(case, "MLX dense matmul", dense_t, note="reference")
            full_y = np.ones((1, n // size, k // size), bool)
            xs = bs.to_sparse(xm[None], lay, size)
            ys = bs.to_sparse(ym[None], full_y, size)
            mx.eval(xs, ys)
            out = bs.matmul(xs, lay, ys, full_y, full_y, size)
            err = np.abs(np.array(bs.to_dense(out, full_y, size)[0].astype(mx.float32))
                         - x @ y).max() / np.abs(x @ y).max()
            report(case, "bs.matmul", mlx_ms(lambda: bs.matmul(xs, lay, ys, full_y, full_y, size),
                                             repeats), dense_t, f"max rel err {err:.1e}")
            A = ms.bsr_array(sp.bsr_array(x, blocksize=(size, size)), dtype=dtype)
            report(case, "BSRArray @ dense", mlx_ms(lambda: A @ ym, repeats), dense_t)
            if TORCH:
                tdt = dict(float16=torch.float16, bfloat16=torch.bfloat16)[str(dtype).split(".")[-1]]
                tx = torch.from_numpy(x).cuda().to(tdt)
                ty = torch.from_numpy(y).cuda().to(tdt)
                report(case, "torch dense (cuBLAS)", torch_ms(lambda: tx @ ty, repeats), dense_t)
                tb = tx.to_sparse_bsr((size, size))
                try:
                    report(case, "torch BSR @ dense", torch_ms(lambda: tb @ ty, repeats), dense_t)
                except RuntimeError as error:
                    print(f"| {case} | torch BSR @ dense | failed: {error} |")
                if blksprs is not None:
                    lx, lf = torch.from_numpy(lay).cuda(), torch.ones((1, n // size, k // size),
                                                                       dtype=torch.bool, device="cuda")
                    bx = blksprs.ops.to_sparse(tx[None], lx, size)
                    by = blksprs.ops.to_sparse(ty[None], lf, size)
                    report(case, "blksprs matmul", torch_ms(
                        lambda: blksprs.ops.matmul(bx, lx, by, lf, lf, size), repeats), dense_t)


def attention_cases(heads, seq, d, size, window, global_blocks, dtype, repeats):
    lay = window_layout(seq // size, window, global_blocks)
    density = lay.mean()
    case = f"B*H={heads} seq={seq} d={d} bs={size} +-{window}+{global_blocks} ({100 * density:.1f}%)"
    header(f"block-sparse attention, {str(dtype).split('.')[-1]}")
    rng = np.random.default_rng(1)
    q, k, v = (mx.array(rng.standard_normal((heads, seq, d)).astype(np.float32)).astype(dtype)
               for _ in range(3))
    do = mx.array(rng.standard_normal((heads, seq, d)).astype(np.float32)).astype(dtype)
    mx.eval(q, k, v, do)
    scale = 1 / math.sqrt(d)
    additive = mx.array(np.where(np.repeat(np.repeat(lay[0], size, 0), size, 1), 0, -np.inf)
                        .astype(np.float32)).astype(dtype)

    def sdpa(mask):
        return mx.fast.scaled_dot_product_attention(q[None], k[None], v[None], scale=scale,
                                                    mask=mask)[0]

    def ours():
        return bs.flash_attention(q, k, v, lay)

    def fwd_bwd(fn):
        return lambda: mx.vjp(lambda q, k, v: fn(q, k, v), [q, k, v], [do])[1]

    dense_fwd = mlx_ms(lambda: sdpa(None), repeats)
    report(case, "MLX sdpa, no mask", dense_fwd, note="reference")
    report(case, "MLX sdpa, additive mask", mlx_ms(lambda: sdpa(additive), repeats), dense_fwd)
    err = np.abs(np.array(ours().astype(mx.float32)) - np.array(sdpa(additive).astype(mx.float32))).max()
    report(case, "bs.flash_attention fwd", mlx_ms(ours, repeats), dense_fwd, f"max abs err {err:.1e}")
    dense_bwd = mlx_ms(fwd_bwd(lambda q, k, v: mx.fast.scaled_dot_product_attention(
        q[None], k[None], v[None], scale=scale)[0]), repeats)
    report(case, "MLX sdpa fwd+bwd, no mask", dense_bwd, note="reference")
    report(case, "bs.flash_attention fwd+bwd", mlx_ms(fwd_bwd(
        lambda q, k, v: bs.flash_attention(q, k, v, lay)), repeats), dense_bwd)
    # the MLX-op path beside the fused kernels (fused=None picks them where they exist)
    report(case, "bs.flash_attention fused=False fwd", mlx_ms(
        lambda: bs.flash_attention(q, k, v, lay, fused=False), repeats), dense_fwd)
    report(case, "bs.flash_attention fused=False fwd+bwd", mlx_ms(fwd_bwd(
        lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=False)), repeats), dense_bwd)
    if not TORCH:
        return
    tdt = dict(float16=torch.float16, bfloat16=torch.bfloat16, float32=torch.float32)[
        str(dtype).split(".")[-1]]
    tq, tk, tv = (torch.from_numpy(np.array(a.astype(mx.float32))).cuda().to(tdt)[None]
                  for a in (q, k, v))
    tmask = torch.from_numpy(np.repeat(np.repeat(lay[0], size, 0), size, 1)).cuda()
    sd = torch.nn.functional.scaled_dot_product_attention
    report(case, "torch sdpa, no mask", torch_ms(lambda: sd(tq, tk, tv), repeats), dense_fwd)
    report(case, "torch sdpa, bool mask", torch_ms(lambda: sd(tq, tk, tv, attn_mask=tmask), repeats),
           dense_fwd)
    if blksprs is None:
        return
    lq = torch.ones((heads, seq // size, d // size if d >= size else 1), dtype=torch.bool, device="cuda")
    att = torch.from_numpy(np.broadcast_to(lay, (heads, *lay.shape[1:])).copy()).cuda()
    bq, bk, bv = (blksprs.ops.to_sparse(t[0], lq, size).requires_grad_() for t in (tq, tk, tv))

    def blk():
        return blksprs.ops.flash_attention(bq, lq, bk, lq, bv, lq, att, size)

    report(case, "blksprs flash_attention fwd", torch_ms(blk, repeats), dense_fwd)
    report(case, "blksprs flash_attention fwd+bwd", torch_ms(
        lambda: torch.autograd.grad(blk().sum(), (bq, bk, bv)), repeats), dense_bwd)


def side_by_side_ms(fns, repeats, warmup=1):
    """Median ms of each callable (its MLX result evaluated), timed in rounds that call each
    once in turn, so that the machine's drift hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            _evaluated(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            _evaluated(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _evaluated(out):
    """MLX results evaluated (a scipy result or None is done already)."""
    if isinstance(out, (mx.array, list, tuple, dict)):
        mx.eval(out)


def interleaved_ms(fns, repeats, warmup=2):
    """side_by_side_ms of a list of callables: their medians (ms), in order."""
    t = side_by_side_ms(dict(enumerate(fns)), repeats, warmup)
    return [t[i] for i in range(len(fns))]


def cpu_attention_case(heads, seq, d, size, window, global_blocks, repeats):
    """The fused CPU kernels against the MLX-op path (fused=False) and MLX's dense sdpa (no
    mask, and the layout as an additive mask), forward and forward+backward, 2 threads and 1
    (MLX's dense ops have no thread setting; ours do: ms.set_num_threads)."""
    lay = window_layout(seq // size, window, global_blocks)
    case = f"B*H={heads} seq={seq} d={d} bs={size} +-{window}+{global_blocks} ({100 * lay.mean():.1f}%)"
    print(f"\n### CPU: block-sparse attention, float32, {case}\n\n| threads | pass | fused ms | "
          f"MLX-op path ms | sdpa ms | sdpa + mask ms | ops / fused | sdpa / fused |\n"
          f"|---|---|---|---|---|---|---|---|", flush=True)
    rng = np.random.default_rng(1)
    q, k, v, do = (mx.array(rng.standard_normal((heads, seq, d)).astype(np.float32)) for _ in range(4))
    mx.eval(q, k, v, do)
    scale = 1 / math.sqrt(d)
    additive = mx.array(np.where(np.repeat(np.repeat(lay[0], size, 0), size, 1), 0, -np.inf)
                        .astype(np.float32))

    def sdpa(mask):
        return lambda q, k, v: mx.fast.scaled_dot_product_attention(
            q[None], k[None], v[None], scale=scale, mask=mask)[0]

    impls = {"fused": lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=True),
             "ops": lambda q, k, v: bs.flash_attention(q, k, v, lay, fused=False),
             "sdpa": sdpa(None), "sdpa + mask": sdpa(additive)}
    err = np.abs(np.array(impls["fused"](q, k, v)) - np.array(impls["sdpa + mask"](q, k, v))).max()
    print(f"fused vs sdpa + mask: max abs err {err:.1e}", flush=True)
    default = ms.num_threads()
    for threads in sorted({default, 1}, reverse=True):
        ms.set_num_threads(threads)
        for name, wrap in (("fwd", lambda f: lambda: f(q, k, v)),
                           ("fwd+bwd", lambda f: lambda: mx.vjp(f, [q, k, v], [do])[1])):
            t = side_by_side_ms({n: wrap(f) for n, f in impls.items()}, repeats)
            print(f"| {threads} | {name} | {t['fused']:.2f} | {t['ops']:.2f} | {t['sdpa']:.2f} | "
                  f"{t['sdpa + mask']:.2f} | {t['ops'] / t['fused']:.2f}x | "
                  f"{t['sdpa'] / t['fused']:.2f}x |", flush=True)
            ROWS.append(dict(case=case, threads=threads, pass_=name, **{f"{n}_ms": x for n, x in t.items()}))
    ms.set_num_threads(default)


class mlx_op_path:
    """Within: blocksparse.matmul takes its MLX-op path instead of the block kernels."""

    def __enter__(self):
        import mlx_sparse.blocksparse._matmul as m
        self.m, self.real = m, m.bsr_kernels
        m.bsr_kernels = lambda stream=None: False

    def __exit__(self, *exc):
        self.m.bsr_kernels = self.real


def cpu_bsr_case(n, size, density, k, repeats):
    header(f"CPU: BSR @ dense, {n}^2, blocks {size}, {round(100 * density)}% of blocks, k={k}, float32")
    print("(per call ms, medians of interleaved rounds; the last column is scipy / this)")
    rng = np.random.default_rng(2)
    lay = block_layout(rng, n // size, n // size, density)[0]
    x = np.where(np.repeat(np.repeat(lay, size, 0), size, 1), rng.standard_normal((n, n)), 0)
    S = sp.bsr_array(x.astype(np.float32), blocksize=(size, size))
    y = rng.standard_normal((n, k)).astype(np.float32)
    A, ym = ms.bsr_array(S), mx.array(y)
    np.testing.assert_allclose(np.array(A @ ym), S @ y, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.array(A.tocsr() @ ym), S @ y, rtol=1e-3, atol=1e-3)
    case = f"{n}^2 bs{size} {round(100 * density)}% k={k}"
    default = ms.num_threads()
    for threads in (default, 1):
        ms.set_num_threads(threads)
        kernel_t, csr_t, scipy_t = interleaved_ms(
            [lambda: mx.eval(A @ ym), lambda: mx.eval(A.tocsr() @ ym), lambda: S @ y], repeats)
        for name, t in (("bsr_spmm (BSRArray @ dense)", kernel_t),
                        ("CSR path (A.tocsr() @ dense)", csr_t), ("scipy bsr_array @ dense", scipy_t)):
            print(f"| {case} | {name}, {threads} thread(s) | {t:.3f} | | {scipy_t / t:.2f}x | |",
                  flush=True)
            ROWS.append(dict(case=case, impl=f"{name} {threads} threads", per_call_ms=t,
                             scipy_ms=scipy_t))
        print(f"| {case} | bsr_spmm vs CSR path, {threads} thread(s) | | | "
              f"{csr_t / kernel_t:.2f}x faster | |", flush=True)
    ms.set_num_threads(default)
    blocksparse_cpu_cases(lay, size, k, repeats)


def blocksparse_cpu_cases(lay, size, k, repeats):
    """bs.matmul on the CPU, block kernels against its MLX-op path: DSD (sparse x @ dense y,
    dense output) and SDD (dense x @ dense y sampled at the layout), float32."""
    rng = np.random.default_rng(3)
    lay = lay[None]
    full = lambda rows, cols: np.ones((1, rows, cols), bool)
    mb, nb, kb = lay.shape[1], lay.shape[2], k // size
    forms = {  # (layout of x, of y, of the output)
        "DSD": (lay, full(nb, kb), full(mb, kb)),
        "SDD": (full(mb, kb), full(kb, nb), lay),
    }
    for form, (lx, ly, lo) in forms.items():
        shape_x = (1, lx.shape[1] * size, lx.shape[2] * size)
        shape_y = (1, ly.shape[1] * size, ly.shape[2] * size)
        xs = bs.to_sparse(mx.array(rng.standard_normal(shape_x).astype(np.float32)), lx, size)
        ys = bs.to_sparse(mx.array(rng.standard_normal(shape_y).astype(np.float32)), ly, size)
        mx.eval(xs, ys)
        run = lambda: mx.eval(bs.matmul(xs, lx, ys, ly, lo, size))

        def op_path():
            with mlx_op_path():
                run()

        with mlx_op_path():
            want = bs.matmul(xs, lx, ys, ly, lo, size)
        got = bs.matmul(xs, lx, ys, ly, lo, size)
        err = float(mx.abs(got - want).max() / mx.abs(want).max())
        case = f"bs.matmul {form} ({shape_x[1]}x{shape_x[2]} @ {shape_y[1]}x{shape_y[2]}, " \
               f"{int(lo.sum() if form == 'SDD' else lx.sum())} blocks of {size})"
        kernel_t, ops_t = interleaved_ms([run, op_path], max(3, repeats // 2))
        print(f"| {case} | block kernel ({'bsr_sddmm' if form == 'SDD' else 'bsr_spmm'}), "
              f"{ms.num_threads()} thread(s) | {kernel_t:.3f} | | {ops_t / kernel_t:.2f}x | "
              f"max rel diff {err:.1e} |", flush=True)
        print(f"| {case} | MLX-op path (gathers + mx.matmul) | {ops_t:.3f} | | 1.00x | reference |",
              flush=True)
        ROWS.append(dict(case=case, impl="block kernel", per_call_ms=kernel_t, mlx_ops_ms=ops_t))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--attention", action="store_true", help="the attention cases only")
    args = parser.parse_args()
    gpu = mx.default_device() == mx.gpu
    print(f"device: {mx.default_device()}, torch CUDA: {TORCH}, blksprs: "
          f"{getattr(blksprs, '__version__', None) if blksprs else None}")
    if gpu:
        n = 2048 if args.quick else 8192
        if not args.attention:
            matmul_cases(n, 64, (0.10, 0.25), (mx.float16, mx.bfloat16), n, args.repeats)
        seq = 2048 if args.quick else 8192
        attention_cases(32, seq, 64, 64, 5, 1, mx.float16, args.repeats)
    else:
        cpu_bsr_case(1024 if args.quick else 4096, 32, 0.10, 256, args.repeats)
        cpu_attention_case(4, 1024 if args.quick else 2048, 64, 64, 2, 1, args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(ROWS, f, indent=1)


if __name__ == "__main__":
    main()
