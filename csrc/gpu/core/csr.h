// Per-thread CSR helpers shared by the CUDA and Metal kernels.
//   I indptr[m + 1] (non-decreasing, indptr[0] = 0), I indices[nnz].
// Structure is validated before a GPU product runs (the Python layer checks each pattern
// once); these helpers still clamp, so a bad pattern can never become a bad memory access.
#pragma once

#include "gpu/core/dialect.h"

namespace mlx_sparse::gpu {

struct Range {
  int64_t start;
  int64_t end;
};

// Entries [start, end) of `row`, clamped to [0, nnz].
template <typename I>
MS_FN Range row_range(MS_GLOBAL const I* indptr, int64_t row, int64_t nnz) {
  int64_t s = static_cast<int64_t>(indptr[row]);
  int64_t e = static_cast<int64_t>(indptr[row + 1]);
  s = s < 0 ? 0 : (s > nnz ? nnz : s);
  e = e < s ? s : (e > nnz ? nnz : e);
  return Range{s, e};
}

// Is column c inside [0, n)? Entries outside are skipped by every kernel.
MS_FN bool in_range(int64_t c, int64_t n) {
  return static_cast<uint64_t>(c) < static_cast<uint64_t>(n);
}

// The row of stored entry e (0 <= e < indptr[m]): the last r with indptr[r] <= e.
// O(log m); empty rows are skipped naturally.
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
