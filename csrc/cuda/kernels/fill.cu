// Fills and conversions used around the atomic kernels: outputs accumulate in float32 and
// are converted to the value type at the end.
#include "common.cuh"

using namespace mlx_sparse::gpu;

#define MS_GRID_STRIDE(i, count) \
  for (int64_t i = global_thread(); i < (count); i += int64_t(gridDim.x) * blockDim.x)

extern "C" __global__ void fill_zero_float32(float* out, int64_t count) {
  MS_GRID_STRIDE(i, count) {
    out[i] = 0.0f;
  }
}

#define MS_CONVERT(T, tn)                                                                 \
  extern "C" __global__ void from_float32_##tn(const float* in, T* out, int64_t count) { \
    MS_GRID_STRIDE(i, count) {                                                            \
      out[i] = from_float<T>(in[i]);                                                      \
    }                                                                                     \
  }
MS_CONVERT(__half, float16)
MS_CONVERT(__nv_bfloat16, bfloat16)

#define MS_FILL_INDEX(I, in_)                                          \
  extern "C" __global__ void fill_zero_##in_(I* out, int64_t count) {  \
    MS_GRID_STRIDE(i, count) {                                         \
      out[i] = 0;                                                      \
    }                                                                  \
  }
MS_FOR_INDEX_TYPES(MS_FILL_INDEX)
