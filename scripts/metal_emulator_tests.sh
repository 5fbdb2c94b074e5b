#!/usr/bin/env bash
# Builds and runs the Metal emulator's tests (metal/emu; docs/developer/metal_emulator.md):
# the emulator's own tests, real kernels (sddmm, softmax, todense_scatter, spmv_nnz_split)
# against plain C++, the kernel registry (every host name registered; a kernel of every family
# run by name, transpose and spgemm as whole pipelines), then bugs seeded into copies of
# kernels, each of which must fail with its message. Everything is built under
# AddressSanitizer, which is what catches out-of-bounds accesses.
# Needs g++ or clang++ with C++20 and ASan, and python3. Usage: bash scripts/metal_emulator_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-$(command -v g++ clang++ clang++-{19,18,17,16,15,14} | head -1 || true)}
if [ -z "$CXX" ]; then
  echo "metal_emulator_tests: no C++ compiler (g++ or clang++) found" >&2
  exit 2
fi
out=build/metal-emulator
rm -rf "$out" && mkdir -p "$out/seeded" "$out/obj"
flags=(-std=c++20 -pthread -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra
       -Werror -Wno-unknown-pragmas)
metal=(-DMLX_SPARSE_METAL_CHECK) # what a file that includes Metal sources needs
gen=$out/gen # the kernels with threadgroup storage rewritten, and the registry's files
includes=(-I"$gen/src" -I"$gen" -Imetal/emu/include -Imetal/emu -Icsrc)
export ASAN_OPTIONS=detect_leaks=0
python3 scripts/metal_emulator_kernels.py metal "$gen"
for k in block_sum mma_tile; do
  python3 scripts/metal_emulator_kernels.py --transform metal/emu/tests/kernels/$k.metal "$gen/src/$k.metal"
done
# the host names as Metal sees them (as scripts/check_metal.sh lists them), for test_registry
for src in metal/*.metal; do
  "$CXX" -E -std=c++20 -DMS_LIST_HOST_NAMES "${metal[@]}" -Imetal/check/include \
    -Imetal/emu/include -Icsrc -Imetal -x c++ "$src" | grep -oP 'ms_host_name = \K("\w*" *)+' |
    tr -d '" '
done >"$out/host_names.txt"

two_at_a_time() { # two_at_a_time FUNCTION ARG...: FUNCTION ARG for each ARG, two at once
  local fn=$1 first second
  shift
  while [ $# -gt 0 ]; do
    "$fn" "$1" &
    first=$!
    shift
    if [ $# -gt 0 ]; then
      "$fn" "$1" &
      second=$!
      shift
      wait "$second"
    fi
    wait "$first"
  done
}
compile() { # compile SOURCE: $out/obj/<name>.o (the registry tests include no Metal source)
  local name
  name=$(basename "${1%.*}")
  case $name in
    test_registry*) "$CXX" "${flags[@]}" "${includes[@]}" -c "$1" -o "$out/obj/$name.o" ;;
    *) "$CXX" "${flags[@]}" "${metal[@]}" "${includes[@]}" -c "$1" -o "$out/obj/$name.o" ;;
  esac
}
build() { # build NAME TEST_SOURCE [EXTRA_FLAGS...]: a test program, against the runtime
  local name=$1 src=$2
  shift 2
  "$CXX" "${flags[@]}" "${metal[@]}" "$@" "${includes[@]}" "$src" "$out/obj/runtime.o" \
    "$out/obj/fiber.o" -o "$out/$name"
}
run_test() { # run_test NAME: builds and runs metal/emu/tests/NAME.cpp
  build "$1" "metal/emu/tests/$1.cpp"
  "$out/$1"
}

# 1. the tests that must pass
two_at_a_time compile metal/emu/runtime.cpp metal/emu/fiber.cpp
two_at_a_time run_test test_emulator test_kernels
two_at_a_time compile metal/emu/registry.cpp "$gen"/families.cpp "$gen"/kernels_*.cpp \
  metal/emu/tests/test_registry.cpp metal/emu/tests/test_registry_pipelines.cpp
"$CXX" "${flags[@]}" "$out"/obj/*.o -o "$out/test_registry"
"$out/test_registry" "$out/host_names.txt"

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
