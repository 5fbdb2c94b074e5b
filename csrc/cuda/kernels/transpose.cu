// transpose (structure) on CUDA: A^T's indptr_t[n + 1], indices_t[nnz] and perm[nnz].
//   transpose_count: counts[col + 1] += 1 per entry (atomic).
//   scan_blocks / scan_totals / scan_add: inclusive prefix sum of counts[1..n] in three
//     parallel passes (per-block scans, a scan of the block totals, offsets added back).
//   transpose_fill: perm[atomic cursor of col] = e.
//   transpose_sort: a warp per row of A^T sorts its perm segment (a bitonic network whose
//     comparators all point up, so a segment of any length sorts in place), making the
//     result stable: rows of A^T list A's entries in order, as on the CPU.
//   transpose_rows: indices_t[q] = row of entry perm[q].
// Entries the CSR rule skips are not in A^T (gpu/core/transpose.h): cursor n places them
// after its last row, transpose_sort sorts them there, and their indices_t are 0.
#include "common.cuh"
#include "gpu/core/transpose.h"
#include "sort.cuh"

namespace mlx_sparse::gpu {

// Inclusive scan of one value per thread across the block (kScanBlock threads): warp scans
// by shuffles, then a scan of the warp totals. Every thread must call it.
template <typename I>
__device__ __forceinline__ I block_inclusive_scan(I x, I* warp_sums) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  for (int o = 1; o < kWarp; o <<= 1) {
    const I y = __shfl_up_sync(0xffffffffu, x, o);
    x += lane >= o ? y : I(0);
  }
  if (lane == kWarp - 1) {
    warp_sums[warp] = x;
  }
  __syncthreads();
  if (warp == 0) {
    I s = warp_sums[lane];
    for (int o = 1; o < kWarp; o <<= 1) {
      const I y = __shfl_up_sync(0xffffffffu, s, o);
      s += lane >= o ? y : I(0);
    }
    warp_sums[lane] = s;
  }
  __syncthreads();
  x += warp > 0 ? warp_sums[warp - 1] : I(0);
  __syncthreads(); // warp_sums may be reused by the caller's next call
  return x;
}

// Inclusive scan of this block's kScanBlock items of v[0, count); the block total goes to
// totals[blockIdx.x].
template <typename I>
__device__ __forceinline__ void scan_blocks(I* v, I* totals, int64_t count) {
  __shared__ I warp_sums[kScanBlock / kWarp];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kScanBlock + threadIdx.x;
  const I x = block_inclusive_scan<I>(i < count ? v[i] : I(0), warp_sums);
  if (i < count) {
    v[i] = x;
  }
  if (threadIdx.x == kScanBlock - 1) {
    totals[blockIdx.x] = x;
  }
}

// Exclusive scan of totals[0, count) by one block, kScanBlock at a time with a carry.
template <typename I>
__device__ __forceinline__ void scan_totals(I* totals, int64_t count) {
  __shared__ I warp_sums[kScanBlock / kWarp];
  __shared__ I carry;
  if (threadIdx.x == 0) {
    carry = 0;
  }
  __syncthreads();
  for (int64_t base = 0; base < count; base += kScanBlock) {
    const int64_t i = base + threadIdx.x;
    const I own = i < count ? totals[i] : I(0);
    const I x = block_inclusive_scan<I>(own, warp_sums) + carry;
    if (i < count) {
      totals[i] = x - own;
    }
    __syncthreads();
    if (threadIdx.x == kScanBlock - 1) {
      carry = x;
    }
    __syncthreads();
  }
}

#define MS_GRID(i, count) \
  for (int64_t i = global_thread(); i < (count); i += int64_t(gridDim.x) * blockDim.x)

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_TRANSPOSE(I, in_)                                                                    \
  extern "C" __global__ void transpose_count_##in_(const I* indptr, const I* cols, I* counts,   \
                                                   EntryArgs a) {                               \
    const Range span = entry_span(indptr, a.m, a.nnz);                                          \
    MS_GRID(e, a.nnz) {                                                                         \
      const int64_t c = static_cast<int64_t>(cols[e]);                                          \
      if (transposed_entry(cols, span, e, a)) {                                                 \
        atomicAdd(reinterpret_cast<std::conditional_t<sizeof(I) == 8, unsigned long long,       \
                                                      unsigned>*>(counts + c + 1), 1u);         \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  extern "C" __global__ void scan_blocks_##in_(I* v, I* totals, int64_t count) {                \
    scan_blocks<I>(v, totals, count);                                                           \
  }                                                                                             \
  extern "C" __global__ void scan_totals_##in_(I* totals, int64_t count) {                      \
    scan_totals<I>(totals, count);                                                              \
  }                                                                                             \
  extern "C" __global__ void scan_add_##in_(I* v, const I* totals, int64_t count) {             \
    MS_GRID(i, count) {                                                                         \
      v[i] += totals[i / kScanBlock];                                                           \
    }                                                                                           \
  }                                                                                             \
  extern "C" __global__ void transpose_fill_##in_(const I* indptr, const I* cols,              \
                                                  const I* indptr_t, I* cursor, I* perm,        \
                                                  EntryArgs a) {                                \
    const Range span = entry_span(indptr, a.m, a.nnz);                                          \
    MS_GRID(e, a.nnz) {                                                                         \
      const int64_t c = transposed_entry(cols, span, e, a) ? static_cast<int64_t>(cols[e]) : a.n; \
      using U = std::conditional_t<sizeof(I) == 8, unsigned long long, unsigned>;               \
      const U at = atomicAdd(reinterpret_cast<U*>(cursor + c), U(1));                           \
      perm[static_cast<int64_t>(indptr_t[c]) + static_cast<int64_t>(at)] = static_cast<I>(e);   \
    }                                                                                           \
  }                                                                                             \
  extern "C" __global__ void transpose_sort_##in_(const I* indptr_t, I* perm, EntryArgs a) {    \
    const int64_t row = global_thread() / kWarp;                                                \
    if (row <= a.n) {                                                                           \
      const Range r = perm_segment(indptr_t, row, a);                                           \
      sort_segment<I>(perm + r.start, r.end - r.start, threadIdx.x % kWarp);                    \
    }                                                                                           \
  }                                                                                             \
  extern "C" __global__ void transpose_rows_##in_(const I* indptr, const I* indptr_t,           \
                                                  const I* perm, I* indices_t, EntryArgs a) {   \
    MS_GRID(q, a.nnz) {                                                                         \
      const int64_t e = static_cast<int64_t>(perm[q]);                                          \
      const bool in_t = q < static_cast<int64_t>(indptr_t[a.n]) && a.m > 0;                     \
      indices_t[q] = static_cast<I>(in_t ? row_of_entry(indptr, a.m, e) : 0);                   \
    }                                                                                           \
  }
MS_FOR_INDEX_TYPES(MS_TRANSPOSE)
