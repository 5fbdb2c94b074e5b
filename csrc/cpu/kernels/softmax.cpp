// softmax on the CPU: out[b, e] = exp(data[b, e] - max_row) / sum_row exp(data[b, q] - max_row)
// over the stored entries of each row (duplicates count separately); entries outside every
// row or with a column outside [0, n) are 0 and take no part (the CSR rule of ops.h).
//   I indptr[m + 1], T data[batch?][nnz], T out[batch][nnz]; accumulates in acc_t<T>.
// Three passes over each row (max, sum of exponentials, scale); rows in blocks of equal work.
#include <cmath>
#include <limits>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// One row's softmax over its entries r; with Skip, entries whose column is outside [0, n)
// are left out of the row and get 0 (the rule), at a test per entry.
template <typename T, typename A, bool Skip, typename I>
void softmax_row(const I* cols, const T* data, T* out, Range r, int64_t n) {
  auto live = [&](int64_t q) { return !Skip || in_range(static_cast<int64_t>(cols[q]), n); };
  A top = -std::numeric_limits<A>::infinity();
  for (int64_t q = r.start; q < r.end; ++q) {
    top = live(q) ? std::max(top, static_cast<A>(data[q])) : top;
  }
  A sum = 0;
  for (int64_t q = r.start; q < r.end; ++q) {
    sum += live(q) ? std::exp(static_cast<A>(data[q]) - top) : A(0);
  }
  const A scale = A(1) / sum;
  for (int64_t q = r.start; q < r.end; ++q) {
    out[q] = live(q) ? static_cast<T>(std::exp(static_cast<A>(data[q]) - top) * scale) : T(0);
  }
}

template <typename T, typename A, typename I>
void softmax_impl(const SoftmaxParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz;
  parallel_rows(indptr, m, nnz, p.batch, 4, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* data = static_cast<const T*>(p.data) + b * p.data_stride;
    T* out = static_cast<T*>(p.out) + b * nnz;
    if (r0 == 0) {
      zero_outside_rows(indptr, m, nnz, out);
    }
    for (int64_t i = r0; i < r1; ++i) {
      const Range r = row_range(indptr, i, nnz);
      if (!columns_in_range(cols, r.start, r.end, n)) {
        softmax_row<T, A, true>(cols, data, out, r, n);
      } else {
        softmax_row<T, A, false>(cols, data, out, r, n);
      }
    }
  });
}

} // namespace

void softmax(const SoftmaxParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) { softmax_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
