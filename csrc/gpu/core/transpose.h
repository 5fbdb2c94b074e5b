// Per-thread pieces of the transpose (csr_transpose), shared by CUDA and Metal. Entries the
// CSR rule skips (outside the rows' span, or with a column outside [0, n)) are not in A^T:
// they follow its last row in perm, sorted there as a segment of their own (the CPU's
// order), so that perm stays a permutation of [0, nnz).
#pragma once

#include "gpu/core/csr.h"
#include "gpu/core/params.h"

namespace mlx_sparse::gpu {

// Is entry e in A^T? The ops give the kernels a non-decreasing indptr whenever it may be
// unchecked, so the rows tile their span and e needs no search.
template <typename I>
MS_FN bool transposed_entry(MS_GLOBAL const I* cols, Range span, int64_t e, EntryArgs a) {
  return span.start <= e && e < span.end && in_range(static_cast<int64_t>(cols[e]), a.n);
}

// The segment of perm sorted by one SIMD group: row `row` of A^T, or (row n) the entries
// that are not in A^T.
template <typename I>
MS_FN Range perm_segment(MS_GLOBAL const I* indptr_t, int64_t row, EntryArgs a) {
  return row < a.n ? row_range(indptr_t, row, a.nnz)
                   : Range{clamp_entry(static_cast<int64_t>(indptr_t[a.n]), a.nnz), a.nnz};
}

} // namespace mlx_sparse::gpu
