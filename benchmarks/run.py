"""Run every CPU benchmark and print one markdown table (optionally save JSON).

    python benchmarks/run.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench_* modules

import mlx.core as mx  # noqa: E402

import bench_grad  # noqa: E402
import bench_spgemm  # noqa: E402
import bench_spmm  # noqa: E402
import bench_spmv  # noqa: E402
from common import ratio_note, ms  # noqa: E402

MODULES = [bench_spmv, bench_spmm, bench_spgemm, bench_grad]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    import scipy
    return dict(cpu=cpu, cores=os.cpu_count(), mlx=mx.__version__, scipy=scipy.__version__,
                kernel_isa=ms.kernel_isa(), num_threads=ms.num_threads(),
                device=str(mx.default_device()))


def markdown(rows, info) -> str:
    head = (f"Machine: {info['cpu']}, {info['cores']} cores; mlx {info['mlx']}, scipy "
            f"{info['scipy']}; mlx_sparse kernels {info['kernel_isa']} x {info['num_threads']} "
            f"threads; {'quick' if info['quick'] else 'full'} run, medians")
    lines = [head, "", "Interleaved: strict alternation with the baseline, an unrelated MLX op before "
             "each call; 1 thread: back to back with our pool at one thread (scipy uses one).",
             "", "| case | mlx_sparse (ms) | scipy (ms) | speed-up | interleaved | 1 thread | "
             "target | met? |", "|---|---:|---:|---:|---:|---:|---|:---:|"]
    for r in rows:
        base = "-" if r.base_ms is None else f"{r.base_ms:.3f}"
        if r.baseline != "scipy" and r.base_ms is not None:
            base += f" ({r.baseline})"
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        inter, one = (ratio_note(r, key) for key in ("interleaved", "one_thread"))
        lines.append(f"| {r.case} | {r.ours_ms:.3f} | {base} | {r.ratio_text} | {inter} | {one} | "
                     f"{r.target} | {met} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--json", metavar="PATH", help="also save the rows and machine as JSON")
    args = ap.parse_args()

    mx.set_default_device(mx.cpu)  # these are the CPU benchmarks
    info = machine() | dict(quick=args.quick)
    rows = []
    for mod in MODULES:
        rows += mod.run(quick=args.quick)
    print(markdown(rows, info))
    if args.json:
        Path(args.json).write_text(json.dumps(
            dict(machine=info, rows=[r.as_dict() for r in rows]), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
