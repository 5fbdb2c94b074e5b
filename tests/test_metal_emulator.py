"""The Metal emulator's C++ tests (scripts/metal_emulator_tests.sh, docs/developer/
metal_emulator.md): real kernels run against plain C++, directly and by host name through the
kernel registry (every Metal host name must be registered), and each seeded bug (missing barrier,
off-by-one threadgroup index, wrong SIMD reduction, out-of-bounds read, divergent simd_sum,
and a missing barrier in spmm.metal's spmv_nnz_split) must be caught. This runs Metal's
execution model as emulated on Linux, not Apple's compiler or GPU."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "metal_emulator_tests.sh"
SEEDS = ["missing_barrier", "threadgroup_off_by_one", "divergent_simd_sum",
         "wrong_simd_reduction", "out_of_bounds_read", "missing_barrier_spmv"]


@pytest.mark.large  # its own C++ build: the plain run covers it, whatever the device switch
def test_metal_emulator_runs_kernels_and_catches_every_seeded_bug():
    if not any(shutil.which(c) for c in ["g++", "clang++", "clang++-14", "clang++-19"]):
        pytest.skip("no C++ compiler (g++ or clang++) to build the Metal emulator's tests")
    # not the sanitizer run's preloaded runtimes: the script builds its own ASan programs
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    run = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert log.count("ok: 0 failure(s)") == 3, log[-4000:]  # emulator, kernels, registry
    for seed in SEEDS:
        assert f"seeded {seed} caught:" in log, log[-4000:]
    assert log.rstrip().endswith("metal_emulator_tests: ok")
