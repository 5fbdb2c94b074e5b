// spgemm (numeric) on Metal, as csrc/cuda/kernels/spgemm.cu: values of C = A @ B on C's
// given pattern. A SIMD group per row i of C walks A's row i; for each entry (j, a) its
// lanes stride B's row j and add a * B[j, c] into C's slot for column c (binary search in
// C's row; products outside the pattern are dropped). float32 accumulator, atomic adds.
#include "common.h"

template <typename T, typename I>
[[kernel]] void spgemm_row_warp(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const T* a_vals [[buffer(2)]], device const I* b_indptr [[buffer(3)]],
    device const I* b_cols [[buffer(4)]], device const T* b_vals [[buffer(5)]],
    device const I* c_indptr [[buffer(6)]], device const I* c_cols [[buffer(7)]],
    device atomic_float* acc [[buffer(8)]], constant SpgemmArgs& a [[buffer(9)]],
    uint3 gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  if (row >= a.m) {
    return;
  }
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  const Range cr = row_range(c_indptr, row, a.c_nnz);
  for (int64_t p = ar.start; p < ar.end; ++p) {
    const int64_t j = static_cast<int64_t>(a_cols[p]);
    if (!in_range(j, a.b_rows)) {
      continue;
    }
    const float av = to_float(a_vals[p]);
    const Range br = row_range(b_indptr, j, a.b_nnz);
    for (int64_t q = br.start + lane; q < br.end; q += kSimd) {
      const int64_t at = find_column(c_cols, cr.start, cr.end, static_cast<int64_t>(b_cols[q]));
      if (at >= 0) {
        atomic_fetch_add_explicit(acc + at, av * to_float(b_vals[q]), memory_order_relaxed);
      }
    }
  }
}

#define MS_SPGEMM(T, tn, I, in_) \
  instantiate_kernel("spgemm_row_warp_" #tn "_" #in_, spgemm_row_warp, T, I)
MS_FOR_TYPES(MS_SPGEMM)
