// spgemm (numeric) on Metal, as csrc/cuda/kernels/spgemm.cu: values of C = A @ B on C's
// given pattern (spgemm_entry_products in gpu/core/spgemm.h); float32 accumulator, atomic
// adds.
//   spgemm_row_warp: a SIMD group per row of A shorter than kSpgemmLongRow.
//   spgemm_nnz_split: a SIMD group per kSpgemmEntries consecutive entries of A, those of
//     long rows.
#include "common.h"
#include "gpu/core/spgemm.h"

struct ProductSlots {
  device atomic_float* p;
};

inline void add_product(ProductSlots acc, int64_t slot, float v) {
  atomic_fetch_add_explicit(acc.p + slot, v, memory_order_relaxed);
}

// A SIMD group's share: with ByRow, row i of A unless it is long; otherwise kSpgemmEntries
// consecutive entries of A, those of long rows.
template <bool ByRow, typename T, typename I>
[[kernel]] void spgemm_numeric(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const T* a_vals [[buffer(2)]], device const I* b_indptr [[buffer(3)]],
    device const I* b_cols [[buffer(4)]], device const T* b_vals [[buffer(5)]],
    device const I* c_indptr [[buffer(6)]], device const I* c_cols [[buffer(7)]],
    device atomic_float* acc [[buffer(8)]], constant SpgemmArgs& a [[buffer(9)]],
    uint3 gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t w = int64_t(gid.x) / kSimd;
  Range e{w * kSpgemmEntries, w * kSpgemmEntries + kSpgemmEntries};
  if (ByRow ? w >= a.m : e.start >= a.a_nnz || a.m <= 0) { // the whole SIMD group leaves together
    return;
  }
  if (ByRow) {
    e = row_range(a_indptr, w, a.a_nnz);
  }
  if (ByRow && e.end - e.start >= kSpgemmLongRow) {
    return;
  }
  spgemm_entry_products(ProductSlots{acc}, a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals,
                        c_indptr, c_cols, ByRow ? w : row_of_entry(a_indptr, a.m, e.start),
                        e.start, e.end < a.a_nnz ? e.end : a.a_nnz, !ByRow, int(lane), kSimd, a);
}

#define MS_SPGEMM(T, tn, I, in_)                                                    \
  instantiate_kernel("spgemm_row_warp_" #tn "_" #in_, spgemm_numeric, true, T, I)  \
  instantiate_kernel("spgemm_nnz_split_" #tn "_" #in_, spgemm_numeric, false, T, I)
MS_FOR_TYPES(MS_SPGEMM)
