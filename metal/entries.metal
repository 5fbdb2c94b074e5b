// Per-entry kernels on Metal, as csrc/cuda/kernels/entries.cu: a thread per stored entry
// (grid-stride), batch in the grid's y:
//   todense_scatter: acc[b, row(e) * n + col(e)] += data[b, e]   (float32 accumulator)
//   sum_duplicates_scatter: acc[b, slot[e]] += data[b, e]         (float32 accumulator)
//   rows_search: rows[e] = row(e), by binary search in indptr (-1: no row holds e)
// Atomic float adds (device atomic_float) make duplicates sum. Entries the CSR rule skips
// (no row, column or slot out of range) add nothing.
#include "common.h"

template <typename T, typename I>
[[kernel]] void todense_scatter(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* data [[buffer(2)]], device atomic_float* acc [[buffer(3)]],
    constant EntryArgs& a [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  const int64_t b = gid.y;
  for (int64_t e = gid.x; e < a.nnz; e += grid.x) {
    const int64_t c = static_cast<int64_t>(cols[e]);
    const int64_t row = entry_row(indptr, a.m, a.nnz, e);
    if (row >= 0 && in_range(c, a.n)) {
      atomic_fetch_add_explicit(acc + b * a.count + row * a.n + c,
                                to_float(data[b * a.data_stride + e]), memory_order_relaxed);
    }
  }
}

template <typename T, typename I>
[[kernel]] void sum_duplicates_scatter(
    device const I* slot [[buffer(0)]], device const T* data [[buffer(1)]],
    device atomic_float* acc [[buffer(2)]], constant EntryArgs& a [[buffer(3)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  const int64_t b = gid.y;
  for (int64_t e = gid.x; e < a.nnz; e += grid.x) {
    const int64_t s = static_cast<int64_t>(slot[e]);
    if (in_range(s, a.count)) {
      atomic_fetch_add_explicit(acc + b * a.count + s, to_float(data[b * a.data_stride + e]),
                                memory_order_relaxed);
    }
  }
}

template <typename I>
[[kernel]] void rows_search(
    device const I* indptr [[buffer(0)]], device I* rows [[buffer(1)]],
    constant EntryArgs& a [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t e = gid.x; e < a.nnz; e += grid.x) {
    rows[e] = static_cast<I>(entry_row(indptr, a.m, a.nnz, e));
  }
}

#define MS_ENTRY_KERNELS(T, tn, I, in_)                                                \
  instantiate_kernel("todense_scatter_" #tn "_" #in_, todense_scatter, T, I)           \
  instantiate_kernel("sum_duplicates_scatter_" #tn "_" #in_, sum_duplicates_scatter, T, I)
MS_FOR_TYPES(MS_ENTRY_KERNELS)

#define MS_ROWS(I, in_) instantiate_kernel("rows_search_" #in_, rows_search, I)
MS_FOR_INDEX_TYPES(MS_ROWS)
