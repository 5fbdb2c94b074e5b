"""The CUDA flash_attention kernels alone (launched from CuPy, no MLX: kernel time without
MLX's per-call overhead) on issue 13's attention case, beside torch SDPA (dense) and blksprs
in the same run. Needs an NVIDIA GPU, CuPy, nvcc and torch; blksprs where installed.

    python benchmarks/bench_flash_attention_cuda.py [--seq 8192] [--repeats 20]

Times are medians in ms of synchronised calls; ratios are theirs / ours.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from flash_attention_cuda import Kernels, Problem, compile_module  # noqa: E402
from timing import median_ms  # noqa: E402


def window_layout(nb, window, global_blocks):
    i = np.arange(nb)
    lay = np.abs(i[:, None] - i[None, :]) <= window
    lay[:global_blocks, :] = True
    lay[:, :global_blocks] = True
    return lay


def main():
    import cupy
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--seq", type=int, default=8192)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--window", type=int, default=5, help="key blocks each side")
    parser.add_argument("--global-blocks", type=int, default=1, help="global block rows/cols")
    parser.add_argument("--ours-only", action="store_true", help="skip torch and blksprs")
    args = parser.parse_args()
    H, seq, d, size = args.heads, args.seq, args.d, args.bs
    lay = window_layout(seq // size, args.window, args.global_blocks)
    layout = np.broadcast_to(lay, (H, *lay.shape)).copy()
    case = (f"B*H={H} seq={seq} d={d} bs={size} +-{args.window}+{args.global_blocks} "
            f"({100 * lay.mean():.1f}%) float16")
    rng = np.random.default_rng(1)
    q, k, v, do = (rng.standard_normal((H, seq, d)).astype(np.float16) for _ in range(4))
    up = cupy.asarray
    prob = Problem(Kernels(compile_module()), q, k, v, layout, size, 1 / np.sqrt(d), None, None,
                   "float16", up)
    d_o, dlse = up(do), cupy.zeros((H, seq), cupy.float32)
    csync = cupy.cuda.get_current_stream().synchronize
    fwd = median_ms(prob.forward, csync, args.repeats)

    def fwd_bwd():
        prob.forward()
        prob.backward(d_o, dlse)

    both = median_ms(fwd_bwd, csync, args.repeats)
    print(f"# {case}; GPU: {torch.cuda.get_device_name()}")
    print("| impl | fwd ms | fwd+bwd ms | fwd ratio | fwd+bwd ratio |")
    print("|---|---|---|---|---|")
    print(f"| flash_attention CUDA kernels (CuPy launch) | {fwd:.3f} | {both:.3f} | 1 | 1 |")
    if args.ours_only:
        return
    tsync = torch.cuda.synchronize
    tq, tk, tv, tdo = (torch.from_numpy(x).cuda()[None].requires_grad_() for x in (q, k, v, do))
    # our output against torch's masked SDPA (the same attention)
    tmask = torch.from_numpy(np.repeat(np.repeat(lay, size, 0), size, 1)).cuda()
    sd = torch.nn.functional.scaled_dot_product_attention
    with torch.no_grad():
        ref = sd(tq[:, :4], tk[:, :4], tv[:, :4], attn_mask=tmask).float().cpu().numpy()[0]
    err = np.abs(prob.o[:4].get().astype(np.float32) - ref).max()
    print(f"# max abs error of o against torch sdpa with the bool mask (4 heads): {err:.2e}")

    def row(name, f, fb):
        t_f = median_ms(f, tsync, args.repeats)
        t_b = median_ms(fb, tsync, args.repeats)
        print(f"| {name} | {t_f:.3f} | {t_b:.3f} | {t_f / fwd:.2f}x | {t_b / both:.2f}x |")

    def fb(f):
        def run():
            o = f()
            torch.autograd.grad(o, (tq, tk, tv), torch.ones_like(o))
        return run

    row("torch sdpa dense (no mask)", lambda: sd(tq, tk, tv), fb(lambda: sd(tq, tk, tv)))
    row("torch sdpa bool mask", lambda: sd(tq, tk, tv, attn_mask=tmask),
        fb(lambda: sd(tq, tk, tv, attn_mask=tmask)))
    try:
        import blksprs
    except ImportError:
        print("# blksprs not installed")
        return
    lq = torch.ones((H, seq // size, max(d // size, 1)), dtype=torch.bool, device="cuda")
    att = torch.from_numpy(layout).cuda()
    bq, bk, bv = (blksprs.ops.to_sparse(t[0], lq, size).requires_grad_() for t in (tq, tk, tv))

    def blk():
        return blksprs.ops.flash_attention(bq, lq, bk, lq, bv, lq, att, size)

    def blk_fb():
        o = blk()
        torch.autograd.grad(o, (bq, bk, bv), torch.ones_like(o))

    row(f"blksprs {blksprs.__version__} flash_attention", blk, blk_fb)


if __name__ == "__main__":
    main()
