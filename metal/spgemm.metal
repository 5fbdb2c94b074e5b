// spgemm (numeric) on Metal, as csrc/cuda/kernels/spgemm.cu: values of C = A @ B on C's
// given pattern. A SIMD group per kSpgemmEntries consecutive entries of A
// (spgemm_entry_products in gpu/core/spgemm.h); float32 accumulator, atomic adds.
#include "common.h"
#include "gpu/core/spgemm.h"

struct ProductSlots {
  device atomic_float* p;
};

inline void add_product(ProductSlots acc, int64_t slot, float v) {
  atomic_fetch_add_explicit(acc.p + slot, v, memory_order_relaxed);
}

template <typename T, typename I>
[[kernel]] void spgemm_nnz_split(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const T* a_vals [[buffer(2)]], device const I* b_indptr [[buffer(3)]],
    device const I* b_cols [[buffer(4)]], device const T* b_vals [[buffer(5)]],
    device const I* c_indptr [[buffer(6)]], device const I* c_cols [[buffer(7)]],
    device atomic_float* acc [[buffer(8)]], constant SpgemmArgs& a [[buffer(9)]],
    uint3 gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t e0 = int64_t(gid.x) / kSimd * kSpgemmEntries;
  if (e0 >= a.a_nnz) {
    return;
  }
  const int64_t e1 = e0 + kSpgemmEntries < a.a_nnz ? e0 + kSpgemmEntries : a.a_nnz;
  spgemm_entry_products(ProductSlots{acc}, a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals,
                        c_indptr, c_cols, e0, e1, int(lane), kSimd, a);
}

#define MS_SPGEMM(T, tn, I, in_) \
  instantiate_kernel("spgemm_nnz_split_" #tn "_" #in_, spgemm_nnz_split, T, I)
MS_FOR_TYPES(MS_SPGEMM)
