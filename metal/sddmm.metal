// sddmm on Metal, as csrc/cuda/kernels/sddmm.cu: a group of `lanes` (1..32) consecutive
// threads per stored entry, its row found by binary search in indptr, <G[row], B[col]>
// reduced with SIMD shuffles. dispatch_threadgroups: full SIMD groups take every shuffle.
// An entry the CSR rule skips gets 0.
#include "common.h"

template <typename T, typename I>
[[kernel]] void sddmm_entry_group(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* G [[buffer(2)]], device const T* B [[buffer(3)]], device T* out [[buffer(4)]],
    constant SddmmArgs& a [[buffer(5)]], uint3 gid [[thread_position_in_grid]]) {
  const int lanes = int(a.lanes);
  const int64_t e = int64_t(gid.x) / lanes;
  const int lane = int(gid.x % uint(lanes));
  const int64_t b = gid.y;
  float acc = 0.0f;
  if (e < a.nnz) {
    const int64_t row = entry_row(indptr, a.m, a.nnz, e);
    const int64_t c = static_cast<int64_t>(cols[e]);
    if (row >= 0 && in_range(c, a.n)) {
      acc = dot_partial<4>(G + b * a.g_stride + row * a.k, B + b * a.b_stride + c * a.k, a.k,
                           lane, lanes);
    }
  }
  acc = group_sum(acc, lanes);
  if (lane == 0 && e < a.nnz) {
    out[b * a.nnz + e] = from_float<T>(acc);
  }
}

#define MS_SDDMM(T, tn, I, in_) \
  instantiate_kernel("sddmm_entry_group_" #tn "_" #in_, sddmm_entry_group, T, I)
MS_FOR_TYPES(MS_SDDMM)
