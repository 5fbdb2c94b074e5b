// todense on the CPU: out[b] = dense(A_b), duplicates summed (in acc_t<T>); entries outside
// every row or with a column outside [0, n) are skipped (the CSR rule of ops.h).
//   I indptr[m + 1], I indices[nnz], T data[batch?][nnz], T out[batch][m][n]
// The batch's rows (batch x m of them) are split into p.parts even blocks, which run in
// parallel with no write conflicts; for 16-bit values each block sums duplicates in its own
// float row of the scratch.
#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
void todense_impl(const TodenseParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz, rows = m * p.batch, parts = p.parts;
  parallel_for(parts, [&](int64_t t) {
    A* row = std::is_same_v<T, A> ? nullptr : static_cast<A*>(p.scratch) + t * n;
    if (row) {
      std::fill(row, row + n, A(0));
    }
    for (int64_t g = rows * t / parts; g < rows * (t + 1) / parts; ++g) {
      const int64_t b = g / m, i = g % m;
      const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
      T* orow = static_cast<T*>(p.out) + g * n;
      std::fill(orow, orow + n, T(0));
      const Range r = row_range(indptr, i, nnz);
      if constexpr (std::is_same_v<T, A>) {
        for (int64_t q = r.start; q < r.end; ++q) {
          const int64_t c = static_cast<int64_t>(cols[q]);
          if (in_range(c, n)) {
            orow[c] += vals[q];
          }
        }
      } else { // sum duplicates in A, then round once
        for (int64_t q = r.start; q < r.end; ++q) {
          const int64_t c = static_cast<int64_t>(cols[q]);
          if (in_range(c, n)) {
            row[c] += static_cast<A>(vals[q]);
          }
        }
        for (int64_t q = r.start; q < r.end; ++q) {
          const int64_t c = static_cast<int64_t>(cols[q]);
          if (in_range(c, n)) {
            orow[c] = static_cast<T>(row[c]);
          }
        }
        for (int64_t q = r.start; q < r.end; ++q) {
          const int64_t c = static_cast<int64_t>(cols[q]);
          if (in_range(c, n)) {
            row[c] = A(0);
          }
        }
      }
    }
  });
}

} // namespace

void todense(const TodenseParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) { todense_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
