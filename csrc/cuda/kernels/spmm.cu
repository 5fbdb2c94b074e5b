// spmv and spmm on CUDA (also A^T @ B, as a gather over A^T's structure with perm, or as an
// atomic scatter when no structure is given). gpu/host.h product_plan picks by_row kernels
// when no row is long, nnz_split ones otherwise.
//   spmv_row_group_l{L}: a group of L lanes per row (32 / L rows per warp), lanes striding
//     the row, a shuffle reduction; the block's rows stored side by side in their own dtype.
//   spmm_row_warp_w{W}: a warp per row and tile of 32 * W dense columns; the row's (column,
//     value) pairs are loaded 32 at a time, one per lane, then broadcast by shuffles.
//   spmv_nnz_split: a block per chunk of 1024 consecutive entries; products staged in
//     shared memory, then a thread per row sums its part (load-balanced for any row lengths).
//   spmm_nnz_split: a warp per chunk of 128 consecutive entries and tile of 32 * W dense
//     columns, so any row lengths balance; the chunk's (column, value) pairs are loaded 32 at
//     a time, one per lane, then broadcast by shuffles, and every lane does W FMAs per entry.
//     Rows shared between chunks are added atomically into a zeroed float32 output.
//   spmm_scatter: A^T @ B for narrow B: a warp per row of A, lanes over its entries, atomic
//     float32 adds into out[col(e)] (zero-filled first).
#include "common.cuh"

namespace mlx_sparse::gpu {

constexpr int kSpmvBlock = kBlock; // threads per block (gpu/core/sizes.h, as the host launches)

// A block per chunk of kSpmvBlock * kSpmvPerThread consecutive entries: the products
// v * x[c] are staged in shared memory with coalesced loads (every lane busy whatever the
// row lengths), then a thread per row of the chunk sums its part. Rows shared with other
// chunks are added atomically into the zero-filled float32 output.
template <typename T, typename I>
__device__ __forceinline__ void spmv_nnz_split(const I* __restrict__ indptr,
                                               const I* __restrict__ cols,
                                               const T* __restrict__ vals, const I* perm,
                                               const T* __restrict__ x, float* y,
                                               const I* __restrict__ chunk_row, ProductArgs a) {
  __shared__ float prod[kSpmvBlock * kSpmvPerThread];
  constexpr int64_t kChunk = kSpmvChunk;
  const int64_t e0 = static_cast<int64_t>(blockIdx.x) * kChunk;
  if (e0 >= a.nnz || a.m <= 0) {
    return;
  }
  const int64_t e1 = e0 + kChunk < a.nnz ? e0 + kChunk : a.nnz;
  const int64_t b = blockIdx.y;
  const T* vb = vals + b * a.data_stride;
  const T* xb = x + b * a.b_stride;
  float* yb = y + b * a.out_stride;
  const Range span = entry_span(indptr, a.m, a.nnz); // entries outside belong to no row
#pragma unroll
  for (int i = 0; i < kSpmvPerThread; ++i) {
    I c;
    float v;
    load_entry(cols, vb, perm, e0 + i * kSpmvBlock + threadIdx.x, span.start,
               e1 < span.end ? e1 : span.end, a.n, c, v);
    prod[i * kSpmvBlock + threadIdx.x] = a.n > 0 ? v * to_float(xb[static_cast<int64_t>(c)]) : 0.0f;
  }
  __syncthreads();
  // rows from the one holding e0 to the one holding e1 (the next chunk's first; its share
  // here is empty) or the last row
  const int64_t r0 = static_cast<int64_t>(chunk_row[blockIdx.x]);
  const int64_t r1 = e1 < a.nnz ? static_cast<int64_t>(chunk_row[blockIdx.x + 1]) : a.m - 1;
  for (int64_t r = r0 + threadIdx.x; r <= r1; r += kSpmvBlock) {
    const Range rr = row_range(indptr, r, a.nnz);
    const int64_t rs = rr.start, re = rr.end;
    const int64_t s = rs > e0 ? rs : e0, e = re < e1 ? re : e1;
    float sum = 0.0f;
    for (int64_t q = s; q < e; ++q) {
      sum += prod[q - e0];
    }
    if (rs >= e0 && re <= e1) {
      yb[r] = sum;
    } else {
      atomicAdd(yb + r, sum);
    }
  }
}

// The row whose accumulator a nnz_split warp flushes: stored when the whole row lies in
// the warp's chunk, added atomically when other chunks share it (out is zero-filled first).
template <int W>
__device__ __forceinline__ void flush_row(float* orow, int64_t c0, int width, bool whole,
                                          float* acc) {
  for (int j = 0; j < width; ++j) {
    if (whole) {
      orow[c0 + j] = acc[j];
    } else {
      atomicAdd(orow + c0 + j, acc[j]);
    }
    acc[j] = 0.0f;
  }
}

// A warp per chunk of kChunk consecutive entries (whatever rows they belong to) and tile of
// 32 * W columns: every warp does the same work, so one very long row is shared by many
// warps instead of stalling one.
// acc += v_j * B[c_j, columns of this lane] for the warp's entries j in [j0, j1), whose
// (column, value) pairs lane j holds in (c, v) (see load_entry): broadcast by shuffles, W
// FMAs per lane each. Eight entries at a time in straight code, so eight rows of B are in
// flight per warp instead of one.
template <int W, typename T, typename I>
__device__ __forceinline__ void axpy_entries(I c, float v, int j0, int j1,
                                             const T* __restrict__ Bb, int64_t c0, int width,
                                             ProductArgs a, float* acc) {
  constexpr int kGroup = 8;
  if (a.n == 0 || a.k == 0) {
    return;
  }
  int j = j0;
  for (; j + kGroup <= j1; j += kGroup) {
    int64_t cj[kGroup];
    float vj[kGroup];
#pragma unroll
    for (int u = 0; u < kGroup; ++u) {
      cj[u] = static_cast<int64_t>(__shfl_sync(0xffffffffu, c, j + u));
      vj[u] = __shfl_sync(0xffffffffu, v, j + u);
    }
#pragma unroll
    for (int u = 0; u < kGroup; ++u) {
      axpy_columns<W>(vj[u], Bb + cj[u] * a.k, c0, width, a.k, acc);
    }
  }
  for (; j < j1; ++j) {
    const int64_t cj = static_cast<int64_t>(__shfl_sync(0xffffffffu, c, j));
    axpy_columns<W>(__shfl_sync(0xffffffffu, v, j), Bb + cj * a.k, c0, width, a.k, acc);
  }
}

template <int W, typename T, typename I>
__device__ __forceinline__ void spmm_nnz_split(const I* __restrict__ indptr,
                                               const I* __restrict__ cols,
                                               const T* __restrict__ vals, const I* perm,
                                               const T* __restrict__ B, float* out,
                                               const I* chunk_row, ProductArgs a) {
  constexpr int64_t kChunk = kSpmmChunk;
  const int lane = threadIdx.x % kWarp;
  const int64_t chunk = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  const int64_t e0 = chunk * kChunk;
  if (e0 >= a.nnz || a.m <= 0) {
    return;
  }
  const int64_t e1 = e0 + kChunk < a.nnz ? e0 + kChunk : a.nnz;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.y) * kWarp + lane) * W;
  const int64_t b = blockIdx.z;
  const int width = static_cast<int>(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  const T* vb = vals + b * a.data_stride;
  const T* Bb = B + b * a.b_stride;
  float* ob = out + b * a.out_stride;
  const Range span = entry_span(indptr, a.m, a.nnz); // entries outside add nothing
  int64_t row = static_cast<int64_t>(chunk_row[chunk]);
  Range rr = row_range(indptr, row, a.nnz);
  int64_t rs = rr.start, re = rr.end;
  float acc[W] = {};
  for (int64_t base = e0; base < e1; base += kWarp) {
    I c;
    float v;
    load_entry(cols, vb, perm, base + lane, span.start, e1 < span.end ? e1 : span.end, a.n, c, v);
    const int count = e1 - base < kWarp ? static_cast<int>(e1 - base) : kWarp;
    for (int j = 0; j < count;) {
      while (base + j >= re && row + 1 < a.m) { // the row ended: flush it, take the next
        flush_row<W>(ob + row * a.k, c0, width, rs >= e0, acc);
        rr = row_range(indptr, ++row, a.nnz);
        rs = rr.start;
        re = rr.end;
      }
      // the entries of this row among the 32, with no row check in the loop
      const int stop = re - base > j && re - base < count ? static_cast<int>(re - base) : count;
      axpy_entries<W>(c, v, j, stop, Bb, c0, width, a, acc);
      j = stop;
    }
  }
  flush_row<W>(ob + row * a.k, c0, width, rs >= e0 && re <= e1, acc);
}

template <int L, typename T, typename I>
__device__ __forceinline__ void spmv_row_group(const I* __restrict__ indptr,
                                               const I* __restrict__ cols,
                                               const T* __restrict__ vals, const I* perm,
                                               const T* __restrict__ x, T* y, ProductArgs a) {
  const int64_t row = global_thread() / L; // blocks of kSpmvBlock threads
  const int lane = threadIdx.x % L;
  const int64_t b = blockIdx.y;
  float acc = 0.0f;
  if (row < a.m) { // no early return: the whole block takes part in the reduction and store
    const Range r = row_range(indptr, row, a.nnz);
    acc = spmv_partial(cols, vals + b * a.data_stride, perm, x + b * a.b_stride, r.start, r.end,
                       lane, L, a.n);
  }
  acc = group_sum(acc, L);
  // the block's sums leave through shared memory, so its rows are stored side by side
  __shared__ float sums[kSpmvBlock];
  if (lane == 0) {
    sums[threadIdx.x / L] = acc;
  }
  __syncthreads();
  const int64_t first = static_cast<int64_t>(blockIdx.x) * (kSpmvBlock / L);
  if (threadIdx.x < kSpmvBlock / L && first + threadIdx.x < a.m) {
    y[b * a.out_stride + first + threadIdx.x] = from_float<T>(sums[threadIdx.x]);
  }
}

template <int W, typename T, typename I>
__device__ __forceinline__ void spmm_row_warp(const I* __restrict__ indptr,
                                              const I* __restrict__ cols,
                                              const T* __restrict__ vals, const I* perm,
                                              const T* __restrict__ B, T* out, ProductArgs a) {
  const int64_t row = global_thread() / kWarp;
  if (row >= a.m) { // the whole warp leaves together
    return;
  }
  const int lane = threadIdx.x % kWarp;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.y) * kWarp + lane) * W;
  const int width = static_cast<int>(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  const int64_t b = blockIdx.z;
  const T* vb = vals + b * a.data_stride;
  const T* Bb = B + b * a.b_stride;
  const Range r = row_range(indptr, row, a.nnz);
  float acc[W] = {};
  for (int64_t base = r.start; base < r.end; base += kWarp) {
    I c;
    float v;
    load_entry(cols, vb, perm, base + lane, r.start, r.end, a.n, c, v);
    const int count = r.end - base < kWarp ? static_cast<int>(r.end - base) : kWarp;
    axpy_entries<W>(c, v, 0, count, Bb, c0, width, a, acc);
  }
  T* orow = out + b * a.out_stride + row * a.k;
  for (int j = 0; j < width; ++j) {
    orow[c0 + j] = from_float<T>(acc[j]);
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

#define MS_SPMM_NNZ_SPLIT(W, T, tn, I, in_)                                                   \
  extern "C" __global__ void spmm_nnz_split_w##W##_##tn##_##in_(                              \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* B, float* out,  \
      const I* chunk_row, ProductArgs a, int use_perm) {                                     \
    spmm_nnz_split<W, T, I>(indptr, cols, vals, use_perm ? perm : nullptr, B, out, chunk_row, \
                            a);                                                              \
  }

#define MS_SPMV_ROW_GROUP(L, T, tn, I, in_)                                                    \
  extern "C" __global__ void spmv_row_group_l##L##_##tn##_##in_(                              \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* x, T* y,        \
      ProductArgs a, int use_perm) {                                                         \
    spmv_row_group<L, T, I>(indptr, cols, vals, use_perm ? perm : nullptr, x, y, a);         \
  }

#define MS_SPMM_ROW_WARP(W, T, tn, I, in_)                                                    \
  extern "C" __global__ void spmm_row_warp_w##W##_##tn##_##in_(                               \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* B, T* out,      \
      ProductArgs a, int use_perm) {                                                         \
    spmm_row_warp<W, T, I>(indptr, cols, vals, use_perm ? perm : nullptr, B, out, a);        \
  }

#define MS_PRODUCTS(T, tn, I, in_)                                                           \
  MS_SPMV_ROW_GROUP(1, T, tn, I, in_)                                                        \
  MS_SPMV_ROW_GROUP(2, T, tn, I, in_)                                                        \
  MS_SPMV_ROW_GROUP(4, T, tn, I, in_)                                                        \
  MS_SPMV_ROW_GROUP(8, T, tn, I, in_)                                                        \
  MS_SPMV_ROW_GROUP(16, T, tn, I, in_)                                                       \
  MS_SPMV_ROW_GROUP(32, T, tn, I, in_)                                                       \
  MS_SPMM_ROW_WARP(1, T, tn, I, in_)                                                         \
  MS_SPMM_ROW_WARP(2, T, tn, I, in_)                                                         \
  MS_SPMM_ROW_WARP(4, T, tn, I, in_)                                                         \
  extern "C" __global__ void spmv_nnz_split_##tn##_##in_(                                   \
      const I* indptr, const I* cols, const T* vals, const I* perm, const T* x, float* y,    \
      const I* chunk_row, ProductArgs a, int use_perm) {                                     \
    spmv_nnz_split<T, I>(indptr, cols, vals, use_perm ? perm : nullptr, x, y, chunk_row, a); \
  }                                                                                          \
  MS_SPMM_NNZ_SPLIT(1, T, tn, I, in_)                                                        \
  MS_SPMM_NNZ_SPLIT(2, T, tn, I, in_)                                                        \
  MS_SPMM_NNZ_SPLIT(4, T, tn, I, in_)                                                        \
  extern "C" __global__ void spmm_scatter_##tn##_##in_(                                      \
      const I* indptr, const I* cols, const T* vals, const T* B, float* out, ProductArgs a) { \
    spmm_scatter<T, I>(indptr, cols, vals, B, out, a);                                       \
  }
MS_FOR_TYPES(MS_PRODUCTS)

// chunk_rows: table[c] = the row holding entry c * chunk (row 0 before the first row, the
// last row after it), so a chunk's warp or block starts without a search; a thread per chunk.
#define MS_CHUNK_ROWS(I, in_)                                                                   \
  extern "C" __global__ void chunk_rows_##in_(const I* indptr, I* table, int64_t m, int64_t nnz, \
                                              int64_t chunk) {                                  \
    const int64_t chunks = (nnz + chunk - 1) / chunk;                                           \
    for (int64_t c = global_thread(); c < chunks; c += int64_t(gridDim.x) * blockDim.x) {       \
      table[c] = static_cast<I>(m > 0 ? row_of_entry(indptr, m, c * chunk) : 0);                \
    }                                                                                           \
  }
MS_FOR_INDEX_TYPES(MS_CHUNK_ROWS)
