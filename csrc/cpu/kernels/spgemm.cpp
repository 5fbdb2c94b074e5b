// spgemm (numeric phase) on the CPU: Gustavson's row-by-row product into a dense
// accumulator, restricted to a given output pattern C.
//   A: I indptr[m + 1], I indices[nnz_a], T a_data[nnz_a]   (m x l)
//   B: I indptr[l + 1], I indices[nnz_b], T b_data[nnz_b]   (l x n)
//   C: I indptr[m + 1], I indices[nnz_c] (unique columns per row), T c_data[nnz_c]
// Each thread keeps acc[n] (acc_t<T>) and a mask of C's columns for the current row; a
// product term whose column is not in the mask is dropped. O(flops + nnz_c) per row.
#include <vector>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
KernelStatus spgemm_impl(const SpgemmParams& p) {
  const I* a_ptr = static_cast<const I*>(p.a.indptr);
  const I* a_col = static_cast<const I*>(p.a.indices);
  const T* a_val = static_cast<const T*>(p.a_data);
  const I* b_ptr = static_cast<const I*>(p.b.indptr);
  const I* b_col = static_cast<const I*>(p.b.indices);
  const T* b_val = static_cast<const T*>(p.b_data);
  const I* c_ptr = static_cast<const I*>(p.c.indptr);
  const I* c_col = static_cast<const I*>(p.c.indices);
  T* c_val = static_cast<T*>(p.c_data);
  const int64_t m = p.a.m, l = p.a.n, n = p.b.n;
  StatusSink sink;
  // The row check of B is hoisted: each row of B is validated once up front.
  for (int64_t j = 0; j < l; ++j) {
    int64_t s, e;
    if (!row_range(b_ptr, j, p.b.nnz, s, e, sink) || !columns_ok(b_col, s, e, n, j, sink)) {
      std::fill(c_val, c_val + p.c.nnz, T(0));
      return sink.status();
    }
  }
  parallel_rows(c_ptr, m, p.c.nnz, 1, 8, [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<A> acc(n, A(0));
    std::vector<unsigned char> in_c(n, 0);
    for (int64_t i = r0; i < r1; ++i) {
      int64_t cs, ce, as, ae;
      if (!row_range(c_ptr, i, p.c.nnz, cs, ce, sink) ||
          !columns_ok(c_col, cs, ce, n, i, sink) ||
          !row_range(a_ptr, i, p.a.nnz, as, ae, sink) ||
          !columns_ok(a_col, as, ae, l, i, sink)) {
        continue;
      }
      for (int64_t q = cs; q < ce; ++q) {
        in_c[c_col[q]] = 1;
      }
      for (int64_t q = as; q < ae; ++q) {
        const int64_t j = a_col[q];
        const A av = static_cast<A>(a_val[q]);
        for (int64_t r = b_ptr[j]; r < b_ptr[j + 1]; ++r) {
          const int64_t c = b_col[r];
          if (in_c[c]) {
            acc[c] += av * static_cast<A>(b_val[r]);
          }
        }
      }
      for (int64_t q = cs; q < ce; ++q) {
        c_val[q] = static_cast<T>(acc[c_col[q]]);
        acc[c_col[q]] = A(0);
        in_c[c_col[q]] = 0;
      }
    }
  });
  return sink.status();
}

} // namespace

KernelStatus spgemm(const SpgemmParams& p) {
  return dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    return dispatch_index(p.a.itype, [&](auto ti) {
      return spgemm_impl<T, acc_t<T>, decltype(ti)>(p);
    });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
