// spgemm (numeric) on CUDA: values of C = A @ B on C's given pattern (sorted, unique
// columns per row). A warp per row i of C walks A's row i; for each entry (j, a) its lanes
// stride B's row j and add a * B[j, c] into C's slot for column c, found by binary search
// in C's row: the output pattern itself is the row's accumulator (products outside it are
// dropped, which is what the masked gradients need). float32 accumulator, atomic adds.
#include "common.cuh"

namespace mlx_sparse::gpu {

template <typename T, typename I>
__device__ __forceinline__ void spgemm_row_warp(const I* a_indptr, const I* a_cols,
                                                const T* a_vals, const I* b_indptr,
                                                const I* b_cols, const T* b_vals,
                                                const I* c_indptr, const I* c_cols, float* acc,
                                                SpgemmArgs a) {
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
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
    for (int64_t q = br.start + lane; q < br.end; q += kWarp) {
      const int64_t at = find_column(c_cols, cr.start, cr.end, static_cast<int64_t>(b_cols[q]));
      if (at >= 0) {
        atomicAdd(acc + at, av * to_float(b_vals[q]));
      }
    }
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SPGEMM(T, tn, I, in_)                                                                \
  extern "C" __global__ void spgemm_row_warp_##tn##_##in_(                                      \
      const I* a_indptr, const I* a_cols, const T* a_vals, const I* b_indptr, const I* b_cols,  \
      const T* b_vals, const I* c_indptr, const I* c_cols, float* acc, SpgemmArgs a) {          \
    spgemm_row_warp<T, I>(a_indptr, a_cols, a_vals, b_indptr, b_cols, b_vals, c_indptr, c_cols, \
                          acc, a);                                                              \
  }
MS_FOR_TYPES(MS_SPGEMM)
