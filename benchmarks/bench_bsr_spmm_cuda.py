"""The CUDA bsr_spmm kernel alone (launched from CuPy, no MLX: the kernel's own time) on issue
13's block-sparse matmul case, beside torch's BSR matmul and dense cuBLAS in the same run, and
tile variants of the same kernel template (csrc/cuda/kernels/bsr_spmm.cu's bsr_spmm_tiled:
columns per thread block, warps, pipeline stages) to choose the shipped one. Needs an NVIDIA
GPU, CuPy, nvcc and torch.

    python benchmarks/bench_bsr_spmm_cuda.py [--n 8192] [--repeats 20]

Times are medians in ms over `--calls` back-to-back launches (per launch); ratios are
torch BSR's time / this one.
"""

from __future__ import annotations

import argparse
import ctypes
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from flash_attention_cuda import Kernels  # noqa: E402  (a cubin's kernels through the driver API)
from timing import median_ms  # noqa: E402

# (name, block size, columns per thread block, warps, stages); the first is what ships
VARIANTS = [("shipped", None, 128, 4, 3), ("bn256_w8_s2", None, 256, 8, 2),
            ("bn128_w8_s3", None, 128, 8, 3), ("bn64_w4_s4", None, 64, 4, 4)]


class BsrArgs(ctypes.Structure):  # csrc/gpu/core/bsr.h
    _fields_ = [(n, ctypes.c_int64) for n in ("mb", "nb", "nnzb", "R", "C", "k", "a_stride",
                                              "b_stride")]


def compile_variants(bs):
    src = [f'#include "{ROOT}/csrc/cuda/kernels/bsr_spmm.cu"']
    for name, _, bn, warps, stages in VARIANTS[1:]:
        src.append(f"extern \"C\" __global__ void __launch_bounds__({warps * 32}) {name}("
                   "const int32_t* p, const int32_t* c, const __half* d, const __half* x, "
                   f"__half* o, BsrArgs a) {{ bsr_spmm_tiled<__half, int32_t, {bs}, {bn}, "
                   f"{warps}, {stages}>(p, c, d, x, o, a); }}")
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "variants.cu").write_text("\n".join(src) + "\n")
    subprocess.run(["nvcc", "-std=c++20", "-O3", "-cubin", "-arch=sm_90", f"-I{ROOT / 'csrc'}",
                    "-o", str(tmp / "v.cubin"), str(tmp / "variants.cu")], check=True)
    return str(tmp / "v.cubin")


def main():
    import cupy
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    n, bs = args.n, args.bs
    kn = Kernels(compile_variants(bs))
    sync = cupy.cuda.get_current_stream().synchronize
    print(f"# bsr_spmm CUDA kernel (CuPy launch) vs torch, ({n} x {n}, blocks {bs}) @ "
          f"({n} x {n}), float16; GPU: {torch.cuda.get_device_name()}")
    print("| density | impl | ms per call | torch BSR / this | max rel err |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    mb = n // bs
    for density in (0.10, 0.25):
        lay = np.zeros(mb * mb, bool)
        lay[rng.choice(mb * mb, round(density * mb * mb), replace=False)] = True
        lay = lay.reshape(mb, mb)
        rows, cols = np.nonzero(lay)
        indptr = np.concatenate([[0], np.cumsum(lay.sum(1))]).astype(np.int32)
        data = rng.standard_normal((len(rows), bs, bs)).astype(np.float16)
        x = rng.standard_normal((n, n)).astype(np.float16)
        d_ptr, d_col = cupy.asarray(indptr), cupy.asarray(cols.astype(np.int32))
        d_data, d_x = cupy.asarray(data), cupy.asarray(x)
        out = cupy.empty((n, n), cupy.float16)
        a = BsrArgs(mb, mb, len(rows), bs, bs, n, 0, 0)
        dense = torch.zeros((n, n), dtype=torch.float16, device="cuda")
        dense.view(mb, bs, mb, bs).permute(0, 2, 1, 3)[torch.from_numpy(rows).cuda(),
                                                       torch.from_numpy(cols).cuda()] = (
            torch.from_numpy(data).cuda())
        tx = torch.from_numpy(x).cuda()
        ref = (dense.float() @ tx.float())
        scale = float(ref.abs().max())
        tsync = torch.cuda.synchronize
        tb = dense.to_sparse_bsr((bs, bs))
        t_bsr = median_ms(lambda: [tb @ tx for _ in range(args.calls)], tsync,
                          args.repeats) / args.calls
        t_dense = median_ms(lambda: [dense @ tx for _ in range(args.calls)], tsync,
                            args.repeats) / args.calls
        pct = f"{round(100 * density)}%"
        print(f"| {pct} | torch dense (cuBLAS) | {t_dense:.3f} | {t_bsr / t_dense:.2f}x | |")
        print(f"| {pct} | torch BSR @ dense | {t_bsr:.3f} | 1 | |")
        for name, _, bn, warps, _ in VARIANTS:
            kernel = f"bsr_spmm_bs{bs}_float16_int32" if name == "shipped" else name
            grid = (mb, -(-n // bn))

            def run():
                for _ in range(args.calls):
                    kn.launch(kernel, grid, warps * 32, d_ptr, d_col, d_data, d_x, out, a)

            t = median_ms(run, sync, args.repeats) / args.calls
            err = float((torch.as_tensor(out, device="cuda").float() - ref).abs().max()) / scale
            print(f"| {pct} | bsr_spmm {name} (BN {bn}, {warps} warps) | {t:.3f} | "
                  f"{t_bsr / t:.2f}x | {err:.1e} |", flush=True)


if __name__ == "__main__":
    main()
