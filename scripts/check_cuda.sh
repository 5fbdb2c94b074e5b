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

# The CUDA host code (csrc/cuda/*.cpp and the GPU primitives), syntax-checked against the MLX
# headers of the Python environment ($PYTHON, else .venv/bin/python, else python3), as
# check_metal.sh does for Metal's; launch.cpp only where the CUDA toolkit's and fmt's
# headers are (MLX's CUDA headers include them; FMT_INCLUDE_DIR points at fmt elsewhere).
py=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
if inc=$("$py" -c 'import mlx, os; print(os.path.join(list(mlx.__path__)[0], "include"))' 2>/dev/null); then
  cuda_inc=$(dirname "$(dirname "$(command -v "$NVCC")")")/include
  fmt_inc=${FMT_INCLUDE_DIR:-/usr/include}
  fmt_flag=() # /usr/include is searched already; naming it with -isystem breaks <cstdlib>
  [ "$fmt_inc" != /usr/include ] && fmt_flag=(-isystem "$fmt_inc")
  for src in csrc/cuda/*.cpp csrc/gpu/primitives_gpu.cpp; do
    if [ "$(basename "$src")" = launch.cpp ] && [ ! -f "$fmt_inc/fmt/format.h" ]; then
      echo "check_cuda: $src not checked (no fmt headers; apt install libfmt-dev)" >&2
      continue
    fi
    "${CXX:-g++}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -DFMT_HEADER_ONLY -Icsrc \
      -isystem "$inc" -isystem "$cuda_inc" "${fmt_flag[@]}" "$src"
    echo "check_cuda: $src ok (host, syntax)"
  done
else
  echo "check_cuda: no MLX in $py; host code not checked" >&2
fi
