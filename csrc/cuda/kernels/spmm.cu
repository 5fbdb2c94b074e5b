// spmv and spmm on CUDA (also A^T @ B, as a gather over A^T's structure with perm, or as an
// atomic scatter when no structure is given).
//   spmv_vector_csr: `lanes` (1..32) consecutive lanes per row, chosen by the host from the
//     mean row length; lanes stride the row, then a shuffle reduction.
//   spmm_row_tile: a warp per row and tile of 32 * W dense columns; the row's (column,
//     value) pairs are loaded 32 at a time, one per lane, then broadcast by shuffles, so each
//     sparse entry is read once per tile and every lane does W FMAs per entry.
//   spmm_scatter: A^T @ B for narrow B: a warp per row of A, lanes over its entries, atomic
//     float32 adds into out[col(e)] (zero-filled first).
#include "common.cuh"

namespace mlx_sparse::gpu {

template <typename T, typename I>
__device__ __forceinline__ void spmv_vector_csr(const I* indptr, const I* cols, const T* vals,
                                                const I* perm, const T* x, T* y,
                                                ProductArgs a, int lanes) {
  const int64_t tid = global_thread();
  const int64_t row = tid / lanes;
  const int lane = static_cast<int>(tid % lanes);
  const int64_t b = blockIdx.y;
  float acc = 0.0f;
  if (row < a.m) {
    const Range r = row_range(indptr, row, a.nnz);
    acc = spmv_partial(cols, vals + b * a.data_stride, perm, x + b * a.b_stride, r.start, r.end,
                       lane, lanes, a.n);
  }
  acc = group_sum(acc, lanes); // every lane takes part: rows past m add zeros
  if (lane == 0 && row < a.m) {
    y[b * a.out_stride + row] = from_float<T>(acc);
  }
}

template <int W, typename T, typename I>
__device__ __forceinline__ void spmm_row_tile(const I* indptr, const I* cols, const T* vals,
                                              const I* perm, const T* B, T* out, ProductArgs a) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.y) * kWarp + lane) * W;
  const int64_t b = blockIdx.z;
  const int width = static_cast<int>(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  const T* vb = vals + b * a.data_stride;
  const T* Bb = B + b * a.b_stride;
  float acc[W] = {};
  Range r{0, 0};
  if (row < a.m) {
    r = row_range(indptr, row, a.nnz);
  }
  for (int64_t base = r.start; base < r.end; base += kWarp) {
    const int64_t p = base + lane;
    int64_t c = -1;
    float v = 0.0f;
    if (p < r.end) {
      c = static_cast<int64_t>(cols[p]);
      v = entry_value(vb, perm, p);
    }
    const int count = r.end - base < kWarp ? static_cast<int>(r.end - base) : kWarp;
    for (int j = 0; j < count; ++j) {
      const int64_t cj = __shfl_sync(0xffffffffu, c, j);
      const float vj = __shfl_sync(0xffffffffu, v, j);
      if (width > 0 && in_range(cj, a.n)) {
        axpy_columns<W>(vj, Bb + cj * a.k, c0, width, acc);
      }
    }
  }
  if (row < a.m) {
    T* orow = out + b * a.out_stride + row * a.k;
    for (int j = 0; j < width; ++j) {
      orow[c0 + j] = from_float<T>(acc[j]);
    }
  }
}

template <typename T, typename I>
__device__ __forceinline__ void spmm_scatter(const I* indptr, const I* cols, const T* vals,
                                             const T* B, float* out, ProductArgs a) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  const int64_t b = blockIdx.y;
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  const T* vb = vals + b * a.data_stride;
  const T* brow = B + b * a.b_stride + row * a.k;
  float* ob = out + b * a.out_stride;
  for (int64_t p = r.start + lane; p < r.end; p += kWarp) {
    const int64_t c = static_cast<int64_t>(cols[p]);
    if (!in_range(c, a.n)) {
      continue;
    }
    const float v = to_float(vb[p]);
    for (int64_t j = 0; j < a.k; ++j) {
      atomicAdd(ob + c * a.k + j, v * to_float(brow[j]));
    }
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_PRODUCTS(T, tn, I, in_)                                                           \
  extern "C" __global__ void spmv_vector_csr_##tn##_##in_(                                   \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* x, T* y,        \
      ProductArgs a, int lanes) {                                                            \
    spmv_vector_csr<T, I>(indptr, cols, vals, perm, x, y, a, lanes);                         \
  }                                                                                          \
  extern "C" __global__ void spmm_row_tile_w1_##tn##_##in_(                                  \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* B, T* out,      \
      ProductArgs a) {                                                                       \
    spmm_row_tile<1, T, I>(indptr, cols, vals, perm, B, out, a);                             \
  }                                                                                          \
  extern "C" __global__ void spmm_row_tile_w2_##tn##_##in_(                                  \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* B, T* out,      \
      ProductArgs a) {                                                                       \
    spmm_row_tile<2, T, I>(indptr, cols, vals, perm, B, out, a);                             \
  }                                                                                          \
  extern "C" __global__ void spmm_row_tile_w4_##tn##_##in_(                                  \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* B, T* out,      \
      ProductArgs a) {                                                                       \
    spmm_row_tile<4, T, I>(indptr, cols, vals, perm, B, out, a);                             \
  }                                                                                          \
  extern "C" __global__ void spmm_scatter_##tn##_##in_(                                      \
      const I* indptr, const I* cols, const T* vals, const T* B, float* out, ProductArgs a) { \
    spmm_scatter<T, I>(indptr, cols, vals, B, out, a);                                       \
  }
MS_FOR_TYPES(MS_PRODUCTS)
