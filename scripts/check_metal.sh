#!/usr/bin/env bash
# Type-check the Metal kernels (metal/*.metal) on Linux, where no Metal compiler exists:
# g++ compiles each file as C++ against MLX's real Metal kernel headers (bf16.h, defines.h
# with instantiate_kernel) from the pinned mlx-metal wheel, with metal/check/metal_shim.h
# standing in for the Metal language; every [[host_name]] instantiation is forced, so each
# kernel body is checked for every value and index type. Then the same for the strings the
# module embeds (scripts/amalgamate_metal.py), exactly what Metal compiles on a Mac; the
# host names are compared with the CUDA kernels' names and with the family each is looked up
# in; and the Metal host code (csrc/metal/*.cpp) is syntax-checked against the wheel's MLX
# and metal-cpp headers (launch.cpp with clang++, for Apple's blocks in metal-cpp).
# What this cannot see (address spaces beyond device/constant, kernel-argument rules,
# Metal's own diagnostics) is listed in the README (Backends). Needs g++, clang++ (Debian:
# apt-get install clang) and pip's network for the wheel once. Usage: bash scripts/check_metal.sh
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

# 2. the embedded strings: each family's, as the module hands it to Metal, type-checked
# against the Metal stand-in alone (it must need no include path), and every host name
# looked up in the family whose file defines it (csrc/metal/families.cpp)
gen=build/metal-check
rm -rf "$gen" && mkdir -p "$gen/families"
python3 scripts/amalgamate_metal.py "$gen/metal_sources.cpp" "$inc"
"$CXX" -std=c++20 -Wall -Wextra -Werror -Icsrc -o "$gen/dump_families" \
  metal/check/dump_families.cpp csrc/metal/families.cpp "$gen/metal_sources.cpp"
pairs=$(for src in metal/*.metal; do
  "$CXX" -E -DMS_LIST_HOST_NAMES "${flags[@]:1}" -x c++ "$src" |
    grep -oP 'ms_host_name = \K("\w*" *)+' | tr -d '" ' | sed "s/^/$(basename "$src" .metal) /"
done)
"$gen/dump_families" "$gen/families" <<<"$pairs"
for src in "$gen"/families/*.metal; do
  "$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-volatile \
    -DMLX_SPARSE_METAL_CHECK -Imetal/check/include -x c++ "$src"
  echo "check_metal: embedded $(basename "$src" .metal) ok ($(wc -c <"$src") bytes)"
done

# 3. host names: unique, and the CUDA kernels' names plus the Metal-only helpers
names=$(cut -d' ' -f2 <<<"$pairs" | sort)
dups=$(uniq -d <<<"$names")
if [ -n "$dups" ]; then
  echo "check_metal: host names defined twice: $dups" >&2
  exit 1
fi
echo "check_metal: $(wc -l <<<"$names") kernel instantiations, names unique"
metal_only="fill_zero_uint32 widen_uint32_int32 widen_uint32_int64"
cuda_only="fill_zero_int32 fill_zero_int64" # CUDA's transpose counts in the index type
# Kernel families that have CUDA kernels and no Metal kernel yet (Metal falls back to the
# MLX-op path for them), space-separated. Remove a family here when its metal/<family>.metal
# lands.
no_metal_yet=""
for family in $no_metal_yet; do
  if [ -f "metal/$family.metal" ]; then
    echo "check_metal: metal/$family.metal exists: take $family off no_metal_yet" >&2
    exit 1
  fi
done
if command -v "${NVCC:-nvcc}" >/dev/null; then
  cuda=$(for src in csrc/cuda/kernels/*.cu; do
    family=$(basename "$src" .cu)
    if grep -qxF "$family" <(tr ' ' '\n' <<<"$no_metal_yet"); then
      echo "check_metal: $src has no Metal counterpart yet (listed in no_metal_yet)" >&2
      continue
    fi
    "${NVCC:-nvcc}" -E -std=c++20 -Icsrc "$src" | tr -s ' \n' ' ' |
      grep -oP 'extern "C" __attribute__\(\(global\)\) void (?:__attribute__\(\(launch_bounds\([^()]*\)\)\) )?\K\w+'
  done | sort)
  expected=$(printf '%s\n' $cuda $metal_only | grep -vxF -f <(printf '%s\n' $cuda_only) | sort)
  if [ "$names" != "$expected" ]; then
    echo "check_metal: Metal and CUDA kernel names differ:" >&2
    diff <(echo "$expected") <(echo "$names") >&2 || true
    exit 1
  fi
  echo "check_metal: names match the CUDA kernels (+ $metal_only, - $cuda_only)"
else
  echo "check_metal: nvcc not found; names not compared with the CUDA kernels" >&2
fi

# 4. the Metal host code, against the wheel's MLX headers. launch.cpp includes metal-cpp
# (shipped in the wheel), which uses Apple's blocks (clang's -fblocks; g++ has none) and a few
# Apple system headers: metal/check/apple stands in for those.
clangxx=${CLANGXX:-$(command -v clang++ clang++-{19,18,17,16,15,14} | head -1 || true)}
if [ -z "$clangxx" ]; then
  echo "check_metal: clang++ not found (Debian: apt-get install clang); launch.cpp unchecked" >&2
  exit 1
fi
for src in csrc/metal/*.cpp csrc/gpu/primitives_gpu.cpp; do
  if [ "$(basename "$src")" = launch.cpp ]; then
    "$clangxx" -std=c++20 -fblocks -fsyntax-only -Wall -Wextra -Werror -Icsrc -isystem "$inc" \
      -isystem "$inc/metal_cpp" -isystem metal/check/apple "$src"
  else
    "$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -Icsrc -isystem "$inc" "$src"
  fi
  echo "check_metal: $src ok (host, syntax)"
done
