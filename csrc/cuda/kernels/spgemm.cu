// spgemm (numeric) on CUDA: values of C = A @ B on C's given pattern
// (spgemm_entry_products in gpu/core/spgemm.h); float32 accumulator, atomic adds.
//   spgemm_row_warp: a warp per row of A shorter than kSpgemmLongRow (reproducible order).
//   spgemm_nnz_split: a warp per kSpgemmEntries consecutive entries of A, those of long rows.
#include "common.cuh"
#include "gpu/core/spgemm.h"

namespace mlx_sparse::gpu {

struct ProductSlots {
  float* p;
};

__device__ __forceinline__ void add_product(ProductSlots acc, int64_t slot, float v) {
  atomicAdd(acc.p + slot, v);
}

template <typename T, typename I>
__device__ __forceinline__ void spgemm_row_warp(const I* a_indptr, const I* a_cols,
                                                const T* a_vals, const I* b_indptr,
                                                const I* b_cols, const T* b_vals,
                                                const I* c_indptr, const I* c_cols, float* acc,
                                                SpgemmArgs a) {
  const int64_t row = global_thread() / kWarp;
  if (row >= a.m) {
    return;
  }
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  if (ar.end - ar.start < kSpgemmLongRow) {
    spgemm_entry_products(ProductSlots{acc}, a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals,
                          c_indptr, c_cols, row, ar.start, ar.end, false, threadIdx.x % kWarp,
                          kWarp, a);
  }
}

template <typename T, typename I>
__device__ __forceinline__ void spgemm_nnz_split(const I* a_indptr, const I* a_cols,
                                                 const T* a_vals, const I* b_indptr,
                                                 const I* b_cols, const T* b_vals,
                                                 const I* c_indptr, const I* c_cols, float* acc,
                                                 SpgemmArgs a) {
  const int64_t e0 = global_thread() / kWarp * kSpgemmEntries;
  if (e0 >= a.a_nnz) {
    return;
  }
  const int64_t e1 = e0 + kSpgemmEntries < a.a_nnz ? e0 + kSpgemmEntries : a.a_nnz;
  spgemm_entry_products(ProductSlots{acc}, a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals,
                        c_indptr, c_cols, row_of_entry(a_indptr, a.m, e0), e0, e1, true,
                        threadIdx.x % kWarp, kWarp, a);
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SPGEMM_KERNEL(V, T, tn, I, in_)                                                      \
  extern "C" __global__ void spgemm_##V##_##tn##_##in_(                                         \
      const I* a_indptr, const I* a_cols, const T* a_vals, const I* b_indptr, const I* b_cols,  \
      const T* b_vals, const I* c_indptr, const I* c_cols, float* acc, SpgemmArgs a) {          \
    spgemm_##V<T, I>(a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals, c_indptr, c_cols, acc, \
                     a);                                                                        \
  }
#define MS_SPGEMM(T, tn, I, in_)              \
  MS_SPGEMM_KERNEL(row_warp, T, tn, I, in_) \
  MS_SPGEMM_KERNEL(nnz_split, T, tn, I, in_)
MS_FOR_TYPES(MS_SPGEMM)
