// softmax on Metal, as csrc/cuda/kernels/softmax.cu: a SIMD group per row (batch in grid.y);
// lanes stride the row for its maximum and its sum of exponentials (SIMD reductions), then
// scale. Accumulates in float. Launched with full threadgroups, so a SIMD group's lanes
// share one row and leave together when it is past the end. Entries the CSR rule skips are
// 0 and take no part: a bad column within a row, and the entries before the first row and
// after the last (written by the first and last rows' SIMD groups).
#include "common.h"

template <typename T, typename I>
[[kernel]] void softmax_row_warp(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* data [[buffer(2)]], device T* out [[buffer(3)]],
    constant EntryArgs& a [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  const int64_t b = gid.y;
  const int64_t last = a.m > 0 ? a.m - 1 : 0; // the host launches one SIMD group at least
  if (row > last) {
    return;
  }
  device T* o = out + b * a.nnz;
  const Range span = entry_span(indptr, a.m, a.nnz);
  for (int64_t p = lane; row == 0 && p < span.start; p += kSimd) {
    o[p] = from_float<T>(0.0f);
  }
  for (int64_t p = span.end + lane; row == last && p < a.nnz; p += kSimd) {
    o[p] = from_float<T>(0.0f);
  }
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  device const T* d = data + b * a.data_stride;
  float top = -FLT_MAX;
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    top = in_range(static_cast<int64_t>(cols[p]), a.n) ? max(top, to_float(d[p])) : top;
  }
  top = simd_max(top);
  float sum = 0.0f;
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    sum += in_range(static_cast<int64_t>(cols[p]), a.n) ? fast::exp(to_float(d[p]) - top) : 0.0f;
  }
  const float scale = 1.0f / group_sum(sum, kSimd);
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    const bool live = in_range(static_cast<int64_t>(cols[p]), a.n);
    o[p] = from_float<T>(live ? fast::exp(to_float(d[p]) - top) * scale : 0.0f);
  }
}

#define MS_SOFTMAX(T, tn, I, in_) \
  instantiate_kernel("softmax_row_warp_" #tn "_" #in_, softmax_row_warp, T, I)
MS_FOR_TYPES(MS_SOFTMAX)
