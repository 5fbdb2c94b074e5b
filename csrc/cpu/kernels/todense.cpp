// todense on the CPU: out[b] = dense(A_b), duplicates summed (in acc_t<T>).
//   I indptr[m + 1], I indices[nnz], T data[batch?][nnz], T out[batch][m][n]
// Rows are independent, so even blocks of rows run in parallel with no write conflicts.
#include <vector>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
KernelStatus todense_impl(const TodenseParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz;
  StatusSink sink;
  parallel_even_rows(m, p.batch, (nnz + m * n / 8) * p.batch, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    T* out = static_cast<T*>(p.out) + b * m * n;
    std::vector<A> row(std::is_same_v<T, A> ? 0 : n);
    for (int64_t i = r0; i < r1; ++i) {
      T* orow = out + i * n;
      std::fill(orow, orow + n, T(0));
      int64_t start, end;
      if (!row_range(indptr, i, nnz, start, end, sink) ||
          !columns_ok(cols, start, end, n, i, sink)) {
        continue;
      }
      if constexpr (std::is_same_v<T, A>) {
        for (int64_t q = start; q < end; ++q) {
          orow[cols[q]] += vals[q];
        }
      } else { // sum duplicates in A, then round once
        for (int64_t q = start; q < end; ++q) {
          row[cols[q]] += static_cast<A>(vals[q]);
        }
        for (int64_t q = start; q < end; ++q) {
          orow[cols[q]] = static_cast<T>(row[cols[q]]);
        }
        for (int64_t q = start; q < end; ++q) {
          row[cols[q]] = A(0);
        }
      }
    }
  });
  return sink.status();
}

} // namespace

KernelStatus todense(const TodenseParams& p) {
  return dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    return dispatch_index(p.a.itype, [&](auto ti) {
      return todense_impl<T, acc_t<T>, decltype(ti)>(p);
    });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
