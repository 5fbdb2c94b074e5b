#!/usr/bin/env bash
# On the lent NVIDIA machine, after scripts/device_cuda.sh: the test suite with the GPU as
# the default device, one process per file (a crash stays in its file); log in $OUT/tests.log.
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/tests.log
touch "$log"
root=$(pwd)
export PYTHONPATH=/root/site:$root MLX_SPARSE_TEST_DEVICE=gpu PYTHONFAULTHANDLER=1
# float32 matmuls in full float32: MLX's CUDA matmuls may round through TF32 (about 1e-3),
# which the tests' MLX-computed references would inherit; our kernels never use TF32
export NVIDIA_TF32_OVERRIDE=0
cd /tmp
# Usage: bash scripts/device_tests.sh [test files...]  (default: every tests/test_*.py)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$root"/tests/test_*.py)
for f in "${files[@]}"; do
  f=$(cd "$root" && realpath "$f")
  name=$(basename "$f" .py)
  echo "==== $name" >> "$log"
  timeout 300 python3 -m pytest -q -p no:cacheprovider --tb=short -rf "$f" > /tmp/one.log 2>&1
  rc=$?
  cat /tmp/one.log >> "$log"
  echo "$name rc=$rc $(tail -1 /tmp/one.log)"
done
