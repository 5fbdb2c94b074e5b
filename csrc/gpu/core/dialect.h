// The few words that differ between the GPU dialects, so that the per-thread functions in
// this folder compile unchanged as CUDA (csrc/cuda/kernels) and as Metal (metal/).
// Only barrier-free, per-thread code lives here: no shared memory, no SIMD collectives.
#pragma once

#if defined(__METAL_VERSION__) || defined(MLX_SPARSE_METAL_CHECK)
#include <metal_stdlib> // int64_t and friends (metal/check/include stands in on Linux)
#define MS_FN inline
#define MS_GLOBAL device
#define MS_THREAD thread
#define MS_CONST constant constexpr
#else
#include <cstdint>
#if defined(__CUDACC__)
#define MS_FN __device__ __forceinline__
#else // host code that only needs the parameter structs
#define MS_FN inline
#endif
#define MS_GLOBAL
#define MS_THREAD
#define MS_CONST constexpr
#endif

namespace mlx_sparse::gpu {

// Values are read as float and accumulated in float (half and bfloat16 included).
template <typename T>
MS_FN float to_float(T v) {
  return static_cast<float>(v);
}

} // namespace mlx_sparse::gpu
