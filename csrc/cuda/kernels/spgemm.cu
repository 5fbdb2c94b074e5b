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

// A warp's share: with ByRow, row i of A unless it is long; otherwise kSpgemmEntries
// consecutive entries of A, those of long rows.
template <bool ByRow, typename T, typename I>
__device__ __forceinline__ void spgemm_numeric(const I* a_indptr, const I* a_cols,
                                               const T* a_vals, const I* b_indptr,
                                               const I* b_cols, const T* b_vals,
                                               const I* c_indptr, const I* c_cols, float* acc,
                                               SpgemmArgs a) {
  const int64_t w = global_thread() / kWarp;
  Range e{w * kSpgemmEntries, w * kSpgemmEntries + kSpgemmEntries};
  if (ByRow ? w >= a.m : e.start >= a.a_nnz || a.m <= 0) { // the whole warp leaves together
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
                        e.start, e.end < a.a_nnz ? e.end : a.a_nnz, !ByRow, threadIdx.x % kWarp,
                        kWarp, a);
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SPGEMM_KERNEL(V, BY_ROW, T, tn, I, in_)                                              \
  extern "C" __global__ void spgemm_##V##_##tn##_##in_(                                         \
      const I* a_indptr, const I* a_cols, const T* a_vals, const I* b_indptr, const I* b_cols,  \
      const T* b_vals, const I* c_indptr, const I* c_cols, float* acc, SpgemmArgs a) {          \
    spgemm_numeric<BY_ROW, T, I>(a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals, c_indptr,  \
                                 c_cols, acc, a);                                               \
  }
#define MS_SPGEMM(T, tn, I, in_)                    \
  MS_SPGEMM_KERNEL(row_warp, true, T, tn, I, in_) \
  MS_SPGEMM_KERNEL(nnz_split, false, T, tn, I, in_)
MS_FOR_TYPES(MS_SPGEMM)
