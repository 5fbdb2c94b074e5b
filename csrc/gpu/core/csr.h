// Per-thread CSR helpers shared by the CUDA and Metal kernels (and the CPU's).
//   I indptr[m + 1], I indices[nnz].
// They implement the CSR rule of ops.h, which every kernel follows on any structure (a
// pattern is validated before use, so this matters only for a bad one traced under
// mx.compile): row i holds the entries [indptr[i], indptr[i + 1]) with both bounds clamped
// to [0, nnz], none when they decrease (a traced indptr reaches the kernels as its running
// maximum, so rows never overlap); entries outside every row, and entries whose column is
// outside [0, n), are skipped. Nothing is ever read or written out of bounds.
#pragma once

#include "gpu/core/dialect.h"

namespace mlx_sparse::gpu {

struct Range {
  int64_t start;
  int64_t end;
};

// v clamped to [0, nnz].
MS_FN int64_t clamp_entry(int64_t v, int64_t nnz) {
  return v < 0 ? 0 : (v > nnz ? nnz : v);
}

// Entries [start, end) of `row`, clamped to [0, nnz] (empty when indptr decreases).
template <typename I>
MS_FN Range row_range(MS_GLOBAL const I* indptr, int64_t row, int64_t nnz) {
  const int64_t s = clamp_entry(static_cast<int64_t>(indptr[row]), nnz);
  const int64_t e = clamp_entry(static_cast<int64_t>(indptr[row + 1]), nnz);
  return Range{s, e < s ? s : e};
}

// The entries that rows can hold: from row 0's start to the last row's end (with indptr
// non-decreasing, as the ops make it whenever it may be unchecked, every entry outside
// belongs to no row).
template <typename I>
MS_FN Range entry_span(MS_GLOBAL const I* indptr, int64_t m, int64_t nnz) {
  const int64_t s = clamp_entry(static_cast<int64_t>(indptr[0]), nnz);
  const int64_t e = clamp_entry(static_cast<int64_t>(indptr[m]), nnz);
  return Range{s, e < s ? s : e};
}

// Is column c inside [0, n)? Entries outside are skipped by every kernel.
MS_FN bool in_range(int64_t c, int64_t n) {
  return static_cast<uint64_t>(c) < static_cast<uint64_t>(n);
}

// The last row r with indptr[r] <= e (row 0 when there is none); m >= 1. O(log m).
template <typename I>
MS_FN int64_t row_of_entry(MS_GLOBAL const I* indptr, int64_t m, int64_t e) {
  int64_t lo = 0, hi = m - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) >> 1;
    if (static_cast<int64_t>(indptr[mid]) <= e) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Does row `row` hold stored entry e?
template <typename I>
MS_FN bool row_holds(MS_GLOBAL const I* indptr, int64_t row, int64_t nnz, int64_t e) {
  const Range rr = row_range(indptr, row, nnz);
  return rr.start <= e && e < rr.end;
}

// The row holding stored entry e, or -1 when no row does.
template <typename I>
MS_FN int64_t entry_row(MS_GLOBAL const I* indptr, int64_t m, int64_t nnz, int64_t e) {
  if (m <= 0) {
    return -1;
  }
  const int64_t r = row_of_entry(indptr, m, e);
  return row_holds(indptr, r, nnz, e) ? r : -1;
}

// Position of column c in the sorted, duplicate-free columns[start, end), or -1.
template <typename I>
MS_FN int64_t find_column(MS_GLOBAL const I* columns, int64_t start, int64_t end, int64_t c) {
  while (start < end) {
    const int64_t mid = (start + end) >> 1;
    const int64_t v = static_cast<int64_t>(columns[mid]);
    if (v == c) {
      return mid;
    }
    if (v < c) {
      start = mid + 1;
    } else {
      end = mid;
    }
  }
  return -1;
}

} // namespace mlx_sparse::gpu
