// CUDA side of the GPU kernels: value types, warp collectives and the entry-point macro.
// Kernels are `extern "C"` so the host loads them by name from the embedded fatbin
// (<op>_<variant>_<value dtype>_<index dtype>). No MLX headers here (see csrc/cuda/launch.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "gpu/core/csr.h"
#include "gpu/core/params.h"
#include "gpu/core/products.h"
#include "gpu/core/sizes.h"

namespace mlx_sparse::gpu {

constexpr int kWarp = kSimdWidth;

template <typename T>
__device__ __forceinline__ T from_float(float v) {
  return static_cast<T>(v);
}

// Sum over groups of `lanes` consecutive lanes (a power of two <= 32); every lane gets it.
__device__ __forceinline__ float group_sum(float v, int lanes) {
  for (int o = lanes >> 1; o > 0; o >>= 1) {
    v += __shfl_xor_sync(0xffffffffu, v, o);
  }
  return v;
}

// Sum over the warp; every lane gets it.
__device__ __forceinline__ int64_t warp_sum(int64_t v) {
  for (int o = kWarp >> 1; o > 0; o >>= 1) {
    v += __shfl_xor_sync(0xffffffffu, v, o);
  }
  return v;
}

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

} // namespace mlx_sparse::gpu

// Instantiate `kernel` for every value type and index type under its host name.
#define MS_FOR_TYPES(MACRO)              \
  MACRO(float, float32, int32_t, int32)  \
  MACRO(float, float32, int64_t, int64)  \
  MACRO(__half, float16, int32_t, int32) \
  MACRO(__half, float16, int64_t, int64) \
  MACRO(__nv_bfloat16, bfloat16, int32_t, int32) \
  MACRO(__nv_bfloat16, bfloat16, int64_t, int64)

#define MS_FOR_INDEX_TYPES(MACRO) \
  MACRO(int32_t, int32)           \
  MACRO(int64_t, int64)
