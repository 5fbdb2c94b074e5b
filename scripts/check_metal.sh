#!/usr/bin/env bash
# Type-check the Metal kernels (metal/*.metal) on Linux, where no Metal compiler exists:
# g++ compiles each file as C++ against MLX's real Metal kernel headers (bf16.h, defines.h
# with instantiate_kernel) from the pinned mlx-metal wheel, with metal/check/metal_shim.h
# standing in for the Metal language; every [[host_name]] instantiation is forced, so each
# kernel body is checked for every value and index type. Then the host names are compared
# with the CUDA kernels' names (both hosts ask for the same ones), and the Metal host code
# (csrc/metal/*.cpp but launch.cpp) is syntax-checked against the wheel's MLX headers.
# What this cannot see (address spaces beyond device/constant, kernel-argument rules,
# Metal's own diagnostics) is listed in the README (Backends). Usage: bash scripts/check_metal.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
version=$(grep -oP '"mlx==\K[0-9.]+' pyproject.toml | head -1)
headers=build/metal-headers/$version

if [ ! -f "$headers/mlx/include/mlx/backend/metal/kernels/bf16.h" ]; then
  py=python3
  [ -x .venv/bin/python ] && py=.venv/bin/python
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$py" -m pip download -q --no-deps --only-binary=:all: --platform macosx_14_0_arm64 \
    --python-version 3.12 "mlx-metal==$version" -d "$tmp"
  "$py" -m zipfile -e "$tmp"/mlx_metal-*.whl "$tmp/wheel"
  rm -rf "$headers" && mkdir -p "$headers/mlx"
  cp -r "$tmp/wheel/mlx/include" "$headers/mlx/include"
fi
inc=$headers/mlx/include

# 1. every kernel file, every instantiation (-Wvolatile: the shim's device = volatile)
flags=(-std=c++20 -fsyntax-only -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-volatile
       -DMLX_SPARSE_METAL_CHECK -Imetal/check/include -I"$inc" -Icsrc -Imetal)
for src in metal/*.metal; do
  "$CXX" "${flags[@]}" -x c++ "$src"
  echo "check_metal: $src ok"
done

# 2. host names: unique, and the CUDA kernels' names plus the Metal-only helpers
names=$(for src in metal/*.metal; do
  "$CXX" -E -DMS_LIST_HOST_NAMES "${flags[@]:1}" -x c++ "$src" |
    grep -oP 'ms_host_name = \K("\w*" *)+' | tr -d '" '
done | sort)
dups=$(uniq -d <<<"$names")
if [ -n "$dups" ]; then
  echo "check_metal: host names defined twice: $dups" >&2
  exit 1
fi
echo "check_metal: $(wc -l <<<"$names") kernel instantiations, names unique"
metal_only="fill_zero_uint32 widen_uint32_int32 widen_uint32_int64"
if command -v "${NVCC:-nvcc}" >/dev/null; then
  cuda=$(for src in csrc/cuda/kernels/*.cu; do
    "${NVCC:-nvcc}" -E -std=c++20 -Icsrc "$src" | tr -s ' \n' ' ' |
      grep -oP 'extern "C" __attribute__\(\(global\)\) void \K\w+'
  done | sort)
  expected=$(printf '%s\n' $cuda $metal_only | sort)
  if [ "$names" != "$expected" ]; then
    echo "check_metal: Metal and CUDA kernel names differ:" >&2
    diff <(echo "$expected") <(echo "$names") >&2 || true
    exit 1
  fi
  echo "check_metal: names match the CUDA kernels (+ $metal_only)"
else
  echo "check_metal: nvcc not found; names not compared with the CUDA kernels" >&2
fi

# 3. the Metal host code, against the wheel's MLX headers. launch.cpp is left out: its
# <Metal/Metal.hpp> (metal-cpp, shipped) needs Apple's SDK headers (objc, CoreFoundation,
# dispatch, simd), which Linux lacks.
for src in csrc/metal/*.cpp; do
  [ "$(basename "$src")" = launch.cpp ] && continue
  "$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -Icsrc -isystem "$inc" "$src"
  echo "check_metal: $src ok (host, syntax)"
done
