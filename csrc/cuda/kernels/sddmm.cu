// sddmm on CUDA: a group of `lanes` (1..32) consecutive lanes per stored entry, balanced over
// entries whatever the row lengths; each group finds its entry's row by binary search in
// indptr and reduces <G[row], B[col]> with shuffles; an entry the CSR rule skips gets 0.
#include "common.cuh"

namespace mlx_sparse::gpu {

template <typename T, typename I>
__device__ __forceinline__ void sddmm_entry_group(const I* indptr, const I* cols, const T* G,
                                                  const T* B, T* out, SddmmArgs a) {
  const int lanes = static_cast<int>(a.lanes);
  const int64_t tid = global_thread();
  const int64_t e = tid / lanes;
  const int lane = static_cast<int>(tid % lanes);
  const int64_t b = blockIdx.y;
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

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SDDMM(T, tn, I, in_)                                                                  \
  extern "C" __global__ void sddmm_entry_group_##tn##_##in_(const I* indptr, const I* cols,      \
                                                            const T* G, const T* B, T* out,      \
                                                            SddmmArgs a) {                       \
    sddmm_entry_group<T, I>(indptr, cols, G, B, out, a);                                         \
  }
MS_FOR_TYPES(MS_SDDMM)
