// Per-entry kernels on CUDA, a thread per stored entry (grid-stride), batch in grid.y:
//   todense_scatter: acc[b, row(e) * n + col(e)] += data[b, e]   (float32 accumulator)
//   sum_duplicates_scatter: acc[b, slot[e]] += data[b, e]         (float32 accumulator)
//   rows_search: rows[e] = row(e), by binary search in indptr (-1: no row holds e)
// Entries the CSR rule skips (no row, column or slot out of range) add nothing.
// Atomic adds make duplicates sum; the accumulator is zero-filled before and converted after.
#include "common.cuh"

using namespace mlx_sparse::gpu;

#define MS_ENTRIES(i) \
  for (int64_t i = global_thread(); i < a.nnz; i += int64_t(gridDim.x) * blockDim.x)

#define MS_ENTRY_KERNELS(T, tn, I, in_)                                                         \
  extern "C" __global__ void todense_scatter_##tn##_##in_(const I* indptr, const I* cols,       \
                                                          const T* data, float* acc,            \
                                                          EntryArgs a) {                        \
    const int64_t b = blockIdx.y;                                                               \
    MS_ENTRIES(e) {                                                                             \
      const int64_t c = static_cast<int64_t>(cols[e]);                                          \
      const int64_t row = entry_row(indptr, a.m, a.nnz, e);                                     \
      if (row >= 0 && in_range(c, a.n)) {                                                       \
        atomicAdd(acc + b * a.count + row * a.n + c, to_float(data[b * a.data_stride + e]));    \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  extern "C" __global__ void sum_duplicates_scatter_##tn##_##in_(const I* slot, const T* data,  \
                                                                 float* acc, EntryArgs a) {     \
    const int64_t b = blockIdx.y;                                                               \
    MS_ENTRIES(e) {                                                                             \
      const int64_t s = static_cast<int64_t>(slot[e]);                                          \
      if (in_range(s, a.count)) {                                                               \
        atomicAdd(acc + b * a.count + s, to_float(data[b * a.data_stride + e]));                \
      }                                                                                         \
    }                                                                                           \
  }
MS_FOR_TYPES(MS_ENTRY_KERNELS)

#define MS_ROWS(I, in_)                                                                       \
  extern "C" __global__ void rows_search_##in_(const I* indptr, I* rows, EntryArgs a) {       \
    MS_ENTRIES(e) {                                                                           \
      rows[e] = static_cast<I>(entry_row(indptr, a.m, a.nnz, e));                             \
    }                                                                                         \
  }
MS_FOR_INDEX_TYPES(MS_ROWS)
