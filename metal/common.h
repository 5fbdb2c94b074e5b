// Metal side of the GPU kernels: value types, SIMD-group helpers and the instantiation
// macros. Kernels keep the CUDA host names (<op>_<variant>_<value dtype>_<index dtype>)
// through MLX's instantiate_kernel ([[host_name]]), so both backends' hosts ask for one name.
#pragma once

#include <metal_stdlib>

#include "mlx/backend/metal/kernels/bf16.h"
#include "mlx/backend/metal/kernels/defines.h"

#include "gpu/core/csr.h"
#include "gpu/core/params.h"
#include "gpu/core/products.h"
#include "gpu/core/sizes.h"

using namespace metal;

namespace mlx_sparse::gpu {

// Apple GPUs run SIMD groups of 32 threads: the CUDA warp algorithms carry over as is.
constant constexpr int kSimd = kSimdWidth;

template <typename T>
inline T from_float(float v) {
  return static_cast<T>(v);
}

// Metal's SIMD shuffles take 32-bit scalars; 64-bit ones travel as two halves (as in MLX).
inline int64_t shuffle(int64_t v, ushort lane) {
  return as_type<int64_t>(simd_shuffle(as_type<uint2>(v), lane));
}
inline int shuffle(int v, ushort lane) {
  return simd_shuffle(v, lane);
}
inline float shuffle(float v, ushort lane) {
  return simd_shuffle(v, lane);
}
inline int64_t shuffle_up(int64_t v, ushort delta) {
  return as_type<int64_t>(simd_shuffle_up(as_type<uint2>(v), delta));
}
inline int shuffle_up(int v, ushort delta) {
  return simd_shuffle_up(v, delta);
}

// Sum over groups of `lanes` consecutive lanes (a power of two <= 32); every lane gets it.
inline float group_sum(float v, int lanes) {
  for (int o = lanes >> 1; o > 0; o >>= 1) {
    v += simd_shuffle_xor(v, ushort(o));
  }
  return v;
}

// Sum over the SIMD group (64-bit, through two 32-bit halves); every lane gets it.
inline int64_t warp_sum(int64_t v) {
  for (ushort o = kSimd / 2; o > 0; o >>= 1) {
    v += as_type<int64_t>(simd_shuffle_xor(as_type<uint2>(v), o));
  }
  return v;
}

// Inclusive scan across the SIMD group (shift-and-add, any 32- or 64-bit integer).
template <typename I>
inline I simd_scan(I x, uint lane) {
  for (ushort o = 1; o < kSimd; o <<= 1) {
    const I y = shuffle_up(x, o);
    x += lane >= o ? y : I(0);
  }
  return x;
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

// MACRO(value type, its name, index type, its name) for every kernel instantiation.
#define MS_FOR_TYPES(MACRO)                      \
  MACRO(float, float32, int32_t, int32)          \
  MACRO(float, float32, int64_t, int64)          \
  MACRO(half, float16, int32_t, int32)           \
  MACRO(half, float16, int64_t, int64)           \
  MACRO(bfloat16_t, bfloat16, int32_t, int32)    \
  MACRO(bfloat16_t, bfloat16, int64_t, int64)

#define MS_FOR_INDEX_TYPES(MACRO) \
  MACRO(int32_t, int32)           \
  MACRO(int64_t, int64)
