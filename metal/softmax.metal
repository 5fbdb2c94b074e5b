// softmax on Metal, as csrc/cuda/kernels/softmax.cu: a SIMD group per row (batch in grid.y);
// lanes stride the row for its maximum and its sum of exponentials (SIMD reductions), then
// scale. Accumulates in float. Launched with full threadgroups, so a SIMD group's lanes
// share one row and leave together when it is past the end.
#include "common.h"

template <typename T, typename I>
[[kernel]] void softmax_row_warp(
    device const I* indptr [[buffer(0)]], device const T* data [[buffer(1)]],
    device T* out [[buffer(2)]], constant EntryArgs& a [[buffer(3)]],
    uint3 gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  const int64_t b = gid.y;
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  device const T* d = data + b * a.data_stride;
  device T* o = out + b * a.nnz;
  float top = -FLT_MAX;
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    top = max(top, to_float(d[p]));
  }
  top = simd_max(top);
  float sum = 0.0f;
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    sum += fast::exp(to_float(d[p]) - top);
  }
  const float scale = 1.0f / group_sum(sum, kSimd);
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    o[p] = from_float<T>(fast::exp(to_float(d[p]) - top) * scale);
  }
}

#define MS_SOFTMAX(T, tn, I, in_) \
  instantiate_kernel("softmax_row_warp_" #tn "_" #in_, softmax_row_warp, T, I)
MS_FOR_TYPES(MS_SOFTMAX)
