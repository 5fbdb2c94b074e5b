// transpose (structure) on Metal, as csrc/cuda/kernels/transpose.cu: A^T's indptr_t[n + 1],
// indices_t[nnz] and perm[nnz].
//   transpose_count: counts[col + 1] += 1 per entry, into a uint32 scratch (Metal has no
//     64-bit atomics), widened into indptr_t by widen_uint32 (fill.metal): a column may hold
//     at most 2^32 - 1 entries, which the host checks (nnz < 2^32).
//   scan_blocks / scan_totals / scan_add: inclusive prefix sum in three parallel passes.
//   transpose_fill: perm[indptr_t[col] + uint32 atomic cursor of col] = e.
//   transpose_sort: a SIMD group per row of A^T sorts its perm segment (bitonic network
//     with every comparator pointing up), so rows list A's entries in order, as on the CPU.
//   transpose_rows: indices_t[q] = row of entry perm[q].
// Entries the CSR rule skips are not in A^T (gpu/core/transpose.h): cursor n places them
// after its last row, transpose_sort sorts them there, and their indices_t are 0.
#include "common.h"
#include "gpu/core/transpose.h"
#include "sort.h"

// One scan block: kScanBlock threads (the host checks the pipeline allows it), 32 SIMD groups.

template <typename I>
[[kernel]] void transpose_count(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device atomic_uint* counts [[buffer(2)]], constant EntryArgs& a [[buffer(3)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  const Range span = entry_span(indptr, a.m, a.nnz);
  for (int64_t e = gid.x; e < a.nnz; e += grid.x) {
    const int64_t c = static_cast<int64_t>(cols[e]);
    if (transposed_entry(cols, span, e, a)) {
      atomic_fetch_add_explicit(counts + c + 1, 1u, memory_order_relaxed);
    }
  }
}

// Inclusive scan of one value per thread across the group (kScanBlock threads): SIMD scans
// by shuffles, then a scan of the SIMD totals. Every thread must call it.
template <typename I>
inline I block_inclusive_scan(I x, threadgroup I* simd_sums, uint simd, uint lane) {
  x = simd_scan(x, lane);
  if (lane == kSimd - 1) {
    simd_sums[simd] = x;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (simd == 0) {
    simd_sums[lane] = simd_scan(simd_sums[lane], lane);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  x += simd > 0 ? simd_sums[simd - 1] : I(0);
  threadgroup_barrier(mem_flags::mem_threadgroup); // simd_sums may be reused by the next call
  return x;
}

// Inclusive scan of this group's kScanBlock items of v[0, count); the total goes to
// totals[group].
template <typename I>
[[kernel]] void scan_blocks(
    device I* v [[buffer(0)]], device I* totals [[buffer(1)]],
    constant int64_t& count [[buffer(2)]], uint group [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup I simd_sums[kScanBlock / kSimd];
  const int64_t i = int64_t(group) * kScanBlock + tid;
  const I x = block_inclusive_scan<I>(i < count ? v[i] : I(0), simd_sums, simd, lane);
  if (i < count) {
    v[i] = x;
  }
  if (tid == kScanBlock - 1) {
    totals[group] = x;
  }
}

// Exclusive scan of totals[0, count) by one group, kScanBlock at a time with a carry.
template <typename I>
[[kernel]] void scan_totals(
    device I* totals [[buffer(0)]], constant int64_t& count [[buffer(1)]],
    uint tid [[thread_index_in_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup I simd_sums[kScanBlock / kSimd];
  threadgroup I carry;
  if (tid == 0) {
    carry = 0;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (int64_t base = 0; base < count; base += kScanBlock) {
    const int64_t i = base + tid;
    const I own = i < count ? totals[i] : I(0);
    const I x = block_inclusive_scan<I>(own, simd_sums, simd, lane) + carry;
    if (i < count) {
      totals[i] = x - own;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tid == kScanBlock - 1) {
      carry = x;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
}

template <typename I>
[[kernel]] void scan_add(
    device I* v [[buffer(0)]], device const I* totals [[buffer(1)]],
    constant int64_t& count [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t i = gid.x; i < count; i += grid.x) {
    v[i] += totals[i / kScanBlock];
  }
}

template <typename I>
[[kernel]] void transpose_fill(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const I* indptr_t [[buffer(2)]], device atomic_uint* cursor [[buffer(3)]],
    device I* perm [[buffer(4)]], constant EntryArgs& a [[buffer(5)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  const Range span = entry_span(indptr, a.m, a.nnz);
  for (int64_t e = gid.x; e < a.nnz; e += grid.x) {
    const int64_t c = transposed_entry(cols, span, e, a) ? static_cast<int64_t>(cols[e]) : a.n;
    const uint at = atomic_fetch_add_explicit(cursor + c, 1u, memory_order_relaxed);
    perm[static_cast<int64_t>(indptr_t[c]) + int64_t(at)] = static_cast<I>(e);
  }
}

template <typename I>
[[kernel]] void transpose_sort(
    device const I* indptr_t [[buffer(0)]], device I* perm [[buffer(1)]],
    constant EntryArgs& a [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd; // one row per SIMD group: uniform control flow
  if (row <= a.n) {
    const Range r = perm_segment(indptr_t, row, a);
    sort_segment(perm + r.start, r.end - r.start, int(lane), mem_flags::mem_device);
  }
}

template <typename I>
[[kernel]] void transpose_rows(
    device const I* indptr [[buffer(0)]], device const I* indptr_t [[buffer(1)]],
    device const I* perm [[buffer(2)]], device I* indices_t [[buffer(3)]],
    constant EntryArgs& a [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t q = gid.x; q < a.nnz; q += grid.x) {
    const int64_t e = static_cast<int64_t>(perm[q]);
    const bool in_t = q < static_cast<int64_t>(indptr_t[a.n]) && a.m > 0;
    indices_t[q] = static_cast<I>(in_t ? row_of_entry(indptr, a.m, e) : 0);
  }
}

#define MS_TRANSPOSE(I, in_)                                                  \
  instantiate_kernel("transpose_count_" #in_, transpose_count, I)             \
  instantiate_kernel("scan_blocks_" #in_, scan_blocks, I)                     \
  instantiate_kernel("scan_totals_" #in_, scan_totals, I)                     \
  instantiate_kernel("scan_add_" #in_, scan_add, I)                           \
  instantiate_kernel("transpose_fill_" #in_, transpose_fill, I)               \
  instantiate_kernel("transpose_sort_" #in_, transpose_sort, I)               \
  instantiate_kernel("transpose_rows_" #in_, transpose_rows, I)
MS_FOR_INDEX_TYPES(MS_TRANSPOSE)
