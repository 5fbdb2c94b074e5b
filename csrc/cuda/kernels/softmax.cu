// softmax on CUDA: a warp per row (batch in grid.y); lanes stride the row for its maximum and
// its sum of exponentials (shuffle reductions), then scale. Accumulates in float. Entries the
// CSR rule skips are 0 and take no part: a bad column within a row, and the entries before
// the first row and after the last (written by the first and last rows' warps).
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
__device__ __forceinline__ void softmax_row_warp(const I* indptr, const I* cols, const T* data,
                                                 T* out, EntryArgs a) {
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int64_t b = blockIdx.y;
  const int64_t last = a.m > 0 ? a.m - 1 : 0; // the host launches one warp at least
  if (row > last) {
    return;
  }
  T* o = out + b * a.nnz;
  const Range span = entry_span(indptr, a.m, a.nnz);
  for (int64_t p = lane; row == 0 && p < span.start; p += kWarp) {
    o[p] = from_float<T>(0.0f);
  }
  for (int64_t p = span.end + lane; row == last && p < a.nnz; p += kWarp) {
    o[p] = from_float<T>(0.0f);
  }
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  const T* d = data + b * a.data_stride;
  auto live = [&](int64_t p) { return in_range(static_cast<int64_t>(cols[p]), a.n); };
  float top = -FLT_MAX;
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    top = live(p) ? fmaxf(top, to_float(d[p])) : top;
  }
  top = warp_max(top);
  float sum = 0.0f;
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    sum += live(p) ? __expf(to_float(d[p]) - top) : 0.0f;
  }
  const float scale = 1.0f / group_sum(sum, kWarp);
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    o[p] = from_float<T>(live(p) ? __expf(to_float(d[p]) - top) * scale : 0.0f);
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SOFTMAX(T, tn, I, in_)                                                               \
  extern "C" __global__ void softmax_row_warp_##tn##_##in_(const I* indptr, const I* cols,      \
                                                           const T* data, T* out, EntryArgs a) { \
    softmax_row_warp<T, I>(indptr, cols, data, out, a);                                         \
  }
MS_FOR_TYPES(MS_SOFTMAX)
