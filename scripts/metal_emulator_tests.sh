#!/usr/bin/env bash
# Builds and runs the Metal emulator's tests (metal/emu; docs/developer/metal_emulator.md):
# real kernels (sddmm, softmax, todense_scatter, spmv_nnz_split) against plain C++, the emulator's own
# tests, then bugs seeded into copies of kernels, each of which must fail with its message.
# Everything is built under AddressSanitizer, which is what catches out-of-bounds accesses.
# Needs g++ or clang++ with C++20 and ASan. Usage: bash scripts/metal_emulator_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-$(command -v g++ clang++ clang++-{19,18,17,16,15,14} | head -1 || true)}
if [ -z "$CXX" ]; then
  echo "metal_emulator_tests: no C++ compiler (g++ or clang++) found" >&2
  exit 2
fi
out=build/metal-emulator
rm -rf "$out" && mkdir -p "$out/seeded"
flags=(-std=c++20 -pthread -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra
       -Werror -Wno-unknown-pragmas -DMLX_SPARSE_METAL_CHECK)
gen=$out/gen # the kernels with threadgroup storage rewritten, and the registry's files
includes=(-I"$gen/src" -I"$gen" -Imetal/emu/include -Imetal/emu -Icsrc)
export ASAN_OPTIONS=detect_leaks=0
python3 scripts/metal_emulator_kernels.py metal "$gen"
python3 scripts/metal_emulator_kernels.py --transform metal/emu/tests/kernels/block_sum.metal \
  "$gen/src/block_sum.metal"

"$CXX" "${flags[@]}" "${includes[@]}" -c metal/emu/runtime.cpp -o "$out/runtime.o" &
"$CXX" "${flags[@]}" "${includes[@]}" -c metal/emu/fiber.cpp -o "$out/fiber.o" &
wait %1 && wait %2
build() { # build NAME TEST_SOURCE [EXTRA_FLAGS...]: a test program, against the runtime
  local name=$1 src=$2
  shift 2
  "$CXX" "${flags[@]}" "$@" "${includes[@]}" "$src" "$out/runtime.o" "$out/fiber.o" -o "$out/$name"
}

# 1. the tests that must pass (built in parallel: two cores)
build test_emulator metal/emu/tests/test_emulator.cpp &
build test_kernels metal/emu/tests/test_kernels.cpp &
wait %1 && wait %2
"$out/test_emulator"
"$out/test_kernels"

# 2. seeded bugs: seed NAME KERNEL_FILE TEST_SOURCE SED_SCRIPT EXPECTED_TEXT...: the kernel's
# copy (found first on the include path) with the edit must make the test fail, saying each text.
seed() {
  local name=$1 kernel=$2 src=$3 edit=$4
  shift 4
  local dir="$out/seeded/$name"
  mkdir -p "$dir"
  sed -E "$edit" "$kernel" >"$dir/edited"
  if cmp -s "$kernel" "$dir/edited"; then
    echo "metal_emulator_tests: seed '$name' changed nothing in $kernel" >&2
    return 1
  fi
  python3 scripts/metal_emulator_kernels.py --transform "$dir/edited" "$dir/$(basename "$kernel")"
  build "seeded/$name/test" "$src" -DMS_EMU_SEEDED -I"$dir"
  if "$dir/test" >"$dir/log" 2>&1; then
    echo "metal_emulator_tests: seeded '$name' was NOT caught" >&2
    return 1
  fi
  for text in "$@"; do
    if ! grep -qF -- "$text" "$dir/log"; then
      echo "metal_emulator_tests: seeded '$name' failed without saying '$text':" >&2
      head -20 "$dir/log" >&2
      return 1
    fi
  done
  echo "metal_emulator_tests: seeded $name caught: $(grep -m1 -E 'FAIL|ERROR|divergence' "$dir/log")"
}
block=metal/emu/tests/kernels/block_sum.metal
emu_test=metal/emu/tests/test_emulator.cpp
kernels_test=metal/emu/tests/test_kernels.cpp
seed missing_barrier "$block" "$emu_test" '/threadgroup_barrier\(/d' \
  "FAIL block_sum" "order=forward out" "(wrong result)" &
seed threadgroup_off_by_one "$block" "$emu_test" 's/group\.x \* size\.x/(group.x + 1) * size.x/' \
  "FAIL block_sum" "(wrong result)" &
wait %1 && wait %2
seed divergent_simd_sum "$block" "$emu_test" 's/= simd_sum\(v\)/= lane == 7 ? v : simd_sum(v)/' \
  "kernel 'block_sum'" "divergence" "lane 7 of SIMD group 0" "simd_sum" &
seed wrong_simd_reduction metal/sddmm.metal "$kernels_test" \
  's/group_sum\(acc, lanes\)/group_sum(acc, lanes \/ 2)/' "FAIL sddmm_entry_group" "(wrong result)" &
wait %1 && wait %2
seed missing_barrier_spmv metal/spmm.metal "$kernels_test" '0,/threadgroup_barrier\(/{/threadgroup_barrier\(/d}' \
  "FAIL spmv_nnz_split" "(wrong result)" &
seed out_of_bounds_read metal/sddmm.metal "$kernels_test" 's/\(cols\[e\]\)/(cols[e + 1])/' \
  "AddressSanitizer: heap-buffer-overflow" "READ" "sddmm_entry_group" &
wait %1 && wait %2
echo "metal_emulator_tests: ok"
