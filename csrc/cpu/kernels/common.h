// Shared pieces of the CPU kernels: dtype dispatch, the CSR rule's row ranges (gpu/core/csr.h,
// the same helpers as the GPU kernels') and row partitioning.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/scratch.h"
#include "cpu/thread_pool.h"
#include "gpu/core/csr.h"
#include "mlx/types/half_types.h"
#include "params.h"

#ifndef MLX_SPARSE_ISA
#error "MLX_SPARSE_ISA must name the instruction set this file is built for"
#endif

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

using gpu::entry_row;
using gpu::entry_span;
using gpu::in_range;
using gpu::Range;
using gpu::row_range;
using mlx::core::bfloat16_t;
using mlx::core::float16_t;

// Accumulation type: float32 for the 16-bit types, the value type otherwise.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename F>
decltype(auto) dispatch_value(ValueType v, F&& f) {
  switch (v) {
    case ValueType::float16:
      return f(float16_t{});
    case ValueType::bfloat16:
      return f(bfloat16_t{});
    case ValueType::float64:
      return f(double{});
    default:
      return f(float{});
  }
}

template <typename F>
decltype(auto) dispatch_index(IndexType t, F&& f) {
  return t == IndexType::int64 ? f(int64_t{}) : f(int32_t{});
}

// Are all columns of entries [start, end) in [0, n)? One branch-free pass: rows that are not
// take a slower path that skips the bad entries.
template <typename I>
inline bool columns_in_range(const I* indices, int64_t start, int64_t end, int64_t n) {
  using U = std::make_unsigned_t<I>;
  U bad = 0;
  for (int64_t p = start; p < end; ++p) {
    bad |= static_cast<U>(static_cast<U>(indices[p]) >= static_cast<U>(n));
  }
  return !bad;
}

// out[e] = 0 for the entries no row holds (before row 0, after the last row), which a
// kernel writing per-entry results row by row never visits.
template <typename T, typename I>
inline void zero_outside_rows(const I* indptr, int64_t m, int64_t nnz, T* out) {
  const Range span = entry_span(indptr, m, nnz);
  std::fill(out, out + span.start, T(0));
  std::fill(out + span.end, out + nnz, T(0));
}

// Splits rows [0, m) into at most `parts` blocks of about equal work, where a row costs
// (its entries + 1); boundaries[0..parts] are found by binary search on indptr.
template <typename I>
inline int64_t partition_rows(const I* indptr, int64_t m, int64_t parts, int64_t* bounds) {
  int64_t total = static_cast<int64_t>(indptr[m]) + m;
  parts = std::max<int64_t>(1, std::min(parts, m));
  bounds[0] = 0;
  for (int64_t t = 1; t < parts; ++t) {
    int64_t target = total * t / parts;
    int64_t lo = bounds[t - 1], hi = m;
    while (lo < hi) { // first row r with indptr[r] + r >= target
      int64_t mid = (lo + hi) / 2;
      if (static_cast<int64_t>(indptr[mid]) + mid < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    bounds[t] = lo;
  }
  bounds[parts] = m;
  return parts;
}

// At most `parts` (<= kMaxParts) blocks of rows of about equal work in bounds[0..parts];
// returns how many. Even splits when indptr is not a valid one (its rows are clamped later).
template <typename I>
inline int64_t row_blocks(const I* indptr, int64_t m, int64_t nnz, int64_t parts, int64_t* bounds) {
  // indptr[m] is only trusted for balancing when it is sane
  bool sane = m == 0 || (indptr[0] == 0 && static_cast<int64_t>(indptr[m]) == nnz);
  if (sane) {
    return partition_rows(indptr, m, parts, bounds);
  }
  parts = std::max<int64_t>(1, std::min(parts, m));
  for (int64_t t = 0; t <= parts; ++t) {
    bounds[t] = m * t / parts;
  }
  return parts;
}

// Runs fn(batch, row_begin, row_end) over the batch and balanced row blocks.
template <typename I, typename F>
void parallel_rows(const I* indptr, int64_t m, int64_t nnz, int64_t batch, int64_t work_per_entry,
                   F&& fn) {
  int64_t bounds[kMaxParts + 1];
  const int64_t parts = row_blocks(
      indptr, m, nnz, work_parts((nnz + m) * std::max<int64_t>(1, work_per_entry) * batch), bounds);
  parallel_for(parts * batch, [&](int64_t t) {
    int64_t b = t / parts, blk = t % parts;
    fn(b, bounds[blk], bounds[blk + 1]);
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
