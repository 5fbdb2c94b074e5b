#!/usr/bin/env bash
# Compile every CUDA kernel file for sm_80 and sm_90 (no GPU needed): CI catches CUDA
# compile errors on machines without a GPU; then the host code is syntax-checked.
# Usage: bash scripts/check_cuda.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
if ! command -v "$NVCC" >/dev/null; then
  echo "check_cuda: nvcc not found; skipped" >&2
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for src in csrc/cuda/kernels/*.cu; do
  "$NVCC" -std=c++20 -O3 -fatbin -gencode=arch=compute_80,code=sm_80 \
    -gencode=arch=compute_90,code=sm_90 -Werror all-warnings -Icsrc \
    -o "$out/$(basename "$src" .cu).fatbin" "$src"
  echo "check_cuda: $src ok"
done

# The CUDA host code (csrc/cuda/*.cpp but launch.cpp, whose MLX CUDA headers need the CUDA
# toolkit and fmt), syntax-checked against the MLX headers of the Python environment
# ($PYTHON, else .venv/bin/python, else python3), as check_metal.sh does for Metal's.
py=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
if inc=$("$py" -c 'import mlx, os; print(os.path.join(list(mlx.__path__)[0], "include"))' 2>/dev/null); then
  for src in csrc/cuda/*.cpp; do
    [ "$(basename "$src")" = launch.cpp ] && continue
    "${CXX:-g++}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -Icsrc -isystem "$inc" "$src"
    echo "check_cuda: $src ok (host, syntax)"
  done
else
  echo "check_cuda: no MLX in $py; host code not checked" >&2
fi
