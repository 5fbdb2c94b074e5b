#!/usr/bin/env bash
# On the lent NVIDIA machine: the flash_attention CUDA kernels checked and timed alone (CuPy,
# no MLX), then mlx_sparse built with MLX's CUDA build (scripts/device_cuda.sh), the
# flash_attention tests with the GPU as default device and the GPU attention benchmark.
#   bash scripts/device_flash_attention.sh WHEELS
# WHEELS holds part_ab, mlx-0.32.4-*.whl, libfmt-dev_*.deb (device_cuda.sh's .whl/p2) and
# blksprs-*.whl; /root/part_aa comes from an earlier call. Logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
wheels=$1
out=${OUT:-/tmp}
root=$(pwd)
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --target /tmp/site "$wheels"/blksprs-*.whl
PYTHONPATH=/tmp/site timeout 120 python3 -m pytest --noconftest -q -p no:cacheprovider \
  --tb=short -rf tests/test_flash_attention_cuda.py 2>&1 | tee "$out/kernel_tests.log" | tail -3
PYTHONPATH=/tmp/site timeout 90 python3 benchmarks/bench_flash_attention_cuda.py 2>&1 |
  tee "$out/bench_kernels.log"
mkdir -p .whl/p2 && cp "$wheels"/part_ab "$wheels"/mlx-0.32.4-*.whl "$wheels"/libfmt-dev_*.deb .whl/p2/
(time bash scripts/device_cuda.sh) > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
tail -4 "$out/build.log"
# as scripts/device_tests.sh, with limits that fit one call
gpu_tests() {
  (cd /tmp && MLX_SPARSE_TEST_DEVICE=gpu PYTHONPATH=/root/site:$root timeout "$1" python3 -m pytest \
    -q -p no:cacheprovider --tb=short -rf "$root/$2") 2>&1 | tee -a "$out/tests.log" | tail -3
}
gpu_tests 200 tests/test_flash_attention_fused.py
cd /tmp && PYTHONPATH=/root/site:/tmp/site:$root timeout 150 python3 \
  "$root/benchmarks/bench_blocksparse.py" --attention 2>&1 | tee "$out/bench_blocksparse.log"
gpu_tests 100 tests/test_flash_attention.py
