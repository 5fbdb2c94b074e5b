// softmax on CUDA: a warp per row (batch in grid.y); lanes stride the row for its maximum and
// its sum of exponentials (shuffle reductions), then scale. Accumulates in float.
#include <cfloat>

#include "common.cuh"

namespace mlx_sparse::gpu {

__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  }
  return v;
}

template <typename T, typename I>
__device__ __forceinline__ void softmax_row_warp(const I* indptr, const T* data, T* out,
                                                 EntryArgs a) {
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int64_t b = blockIdx.y;
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  const T* d = data + b * a.data_stride;
  T* o = out + b * a.nnz;
  float top = -FLT_MAX;
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    top = fmaxf(top, to_float(d[p]));
  }
  top = warp_max(top);
  float sum = 0.0f;
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    sum += __expf(to_float(d[p]) - top);
  }
  const float scale = 1.0f / group_sum(sum, kWarp);
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    o[p] = from_float<T>(__expf(to_float(d[p]) - top) * scale);
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SOFTMAX(T, tn, I, in_)                                                               \
  extern "C" __global__ void softmax_row_warp_##tn##_##in_(const I* indptr, const T* data,      \
                                                           T* out, EntryArgs a) {               \
    softmax_row_warp<T, I>(indptr, data, out, a);                                               \
  }
MS_FOR_TYPES(MS_SOFTMAX)
