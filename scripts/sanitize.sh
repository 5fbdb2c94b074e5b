#!/usr/bin/env bash
# Builds mlx_sparse with AddressSanitizer + UndefinedBehaviorSanitizer, and with the Metal
# emulator, into its own virtual environment (.venv-asan); runs the whole test suite under
# them, then again through the Metal kernels on the emulator, where ASan bounds-checks every
# buffer access of a kernel, and a soak loop.
# Usage: bash scripts/sanitize.sh [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv-asan"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
pip install -q "mlx[cpu]==0.32.4" numpy scipy pytest hypothesis "nanobind>=3,<4" scikit-build-core ninja cmake
MLX_SPARSE_SANITIZE=ON MLX_SPARSE_METAL_EMULATOR=ON \
  pip install -q --no-build-isolation --no-deps "$repo"
# Python itself is not instrumented, so the runtimes are preloaded. Leak checking is off:
# the interpreter keeps objects alive at exit by design.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Run from outside the checkout so that the sanitized install, not the sources, is imported.
cd "$(mktemp -d)"
python -m pytest -q -p no:cacheprovider "$repo/tests" "$@"
# The suite through every Metal kernel on the emulator (docs/developer/metal_emulator.md); a
# Metal kernel that no test ran fails it.
MLX_SPARSE_TEST_DEVICE=metal-emulator MLX_SPARSE_EMULATOR_COVERAGE=1 \
  python -m pytest -q -p no:cacheprovider "$repo/tests" "$@"
# A long loop of every op and every refusal under the sanitizers: no crash, hang or growth
# (MLX_SPARSE_SOAK_ITERATIONS=100000 is the issue's full run; CI runs fewer).
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16" timeout 1200 \
  python "$repo/scripts/soak.py" --iterations "${MLX_SPARSE_SOAK_ITERATIONS:-5000}"
