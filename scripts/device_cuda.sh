#!/usr/bin/env bash
# On the lent NVIDIA machine (device tool): install MLX's CUDA build from carried wheels,
# build mlx_sparse with its CUDA kernels, and put the module beside the package.
#   bash scripts/device_cuda.sh   (expects /root/part_aa from an earlier call and .whl/p2/)
set -euo pipefail
cd "$(dirname "$0")/.."
W=mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl
if [ ! -d /root/site/mlx ]; then
  cat /root/part_aa .whl/p2/part_ab > /root/$W
  python3 -m pip install -q --no-index --no-deps --target /root/site /root/$W .whl/p2/mlx-0.32.4-*.whl
  dpkg -x .whl/p2/libfmt-dev_*.deb /root/fmt
fi
export PYTHONPATH=/root/site
env | grep -E "^(C|CXX|LD)FLAGS=" || true
unset CFLAGS CXXFLAGS LDFLAGS  # the image's flags (e.g. a static libstdc++) do not belong in a module
CUDNN_INC=$(dirname "$(find / -name cudnn.h -path '*nvidia*' 2>/dev/null | head -1)")
cmake -S . -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} -DPython_EXECUTABLE="$(which python3)" \
  -DMLX_SPARSE_CUDA=ON -DMLX_SPARSE_CUDA_ARCHS=90 -DCUDNN_INCLUDE_PATH="$CUDNN_INC" \
  -DCUDNN_LIBRARY_PATH="$CUDNN_INC/../lib" -DFMT_INCLUDE_DIR=/root/fmt/usr/include >/dev/null
ninja -C build/cuda
ln -sf "$(pwd)"/build/cuda/_ext*.so "$(pwd)"/build/cuda/_ext.pyi mlx_sparse/
python3 -c "import mlx.core as mx, mlx_sparse as ms; print(mx.default_device(), ms.gpu_backend())"
