#!/usr/bin/env bash
# Compile every CUDA kernel file for sm_80 and sm_90 (no GPU needed): CI catches CUDA
# compile errors on machines without a GPU. Usage: bash scripts/check_cuda.sh
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
# The eval_gpu files that reach MLX only through cuda/launch.h: a syntax check against the
# MLX headers of the CPU wheel (launch.cpp and backend.cpp need MLX's CUDA build).
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
if ! MLX_INC=$("$PY" -c "import mlx.core, pathlib; print(pathlib.Path(mlx.core.__file__).parent / 'include')"); then
  echo "check_cuda: no MLX for $PY; host files skipped" >&2
  exit 0
fi
for src in csrc/cuda/*_cuda.cpp; do
  "${CXX:-g++}" -std=c++20 -fsyntax-only -Wall -Werror -Icsrc -I"$MLX_INC" "$src"
  echo "check_cuda: $src ok (host, syntax)"
done
