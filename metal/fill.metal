// Fills and conversions around the atomic kernels, as csrc/cuda/kernels/fill.cu: outputs
// accumulate in float32 and are converted to the value type at the end. Metal only:
// widen_uint32 turns transpose's 32-bit atomic counts into the index type (Metal has no
// 64-bit atomics).
#include "common.h"

template <typename T>
[[kernel]] void fill_zero(
    device T* out [[buffer(0)]], constant int64_t& count [[buffer(1)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  for (int64_t i = gid.x; i < count; i += grid.x) {
    out[i] = T(0);
  }
}

template <typename T>
[[kernel]] void from_float32(
    device const float* in [[buffer(0)]], device T* out [[buffer(1)]],
    constant int64_t& count [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t i = gid.x; i < count; i += grid.x) {
    out[i] = from_float<T>(in[i]);
  }
}

template <typename I>
[[kernel]] void widen_uint32(
    device const uint* in [[buffer(0)]], device I* out [[buffer(1)]],
    constant int64_t& count [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t i = gid.x; i < count; i += grid.x) {
    out[i] = static_cast<I>(in[i]);
  }
}

instantiate_kernel("fill_zero_float32", fill_zero, float)
instantiate_kernel("fill_zero_uint32", fill_zero, uint)
instantiate_kernel("from_float32_float16", from_float32, half)
instantiate_kernel("from_float32_bfloat16", from_float32, bfloat16_t)

// no fill_zero_<index type>: CUDA's transpose counts in the index type, Metal's in uint32
#define MS_WIDEN(I, in_) instantiate_kernel("widen_uint32_" #in_, widen_uint32, I)
MS_FOR_INDEX_TYPES(MS_WIDEN)
