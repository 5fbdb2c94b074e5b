// softmax on the CPU: out[b, e] = exp(data[b, e] - max_row) / sum_row exp(data[b, q] - max_row)
// over the stored entries of each row (duplicates count separately).
//   I indptr[m + 1], T data[batch?][nnz], T out[batch][nnz]; accumulates in acc_t<T>.
// Three passes over each row (max, sum of exponentials, scale); rows in blocks of equal work.
#include <cmath>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
KernelStatus softmax_impl(const SoftmaxParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const int64_t m = p.a.m, nnz = p.a.nnz;
  StatusSink sink;
  parallel_rows(indptr, m, nnz, p.batch, 4, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* data = static_cast<const T*>(p.data) + b * p.data_stride;
    T* out = static_cast<T*>(p.out) + b * nnz;
    for (int64_t i = r0; i < r1; ++i) {
      int64_t start, end;
      if (!row_range(indptr, i, nnz, start, end, sink) || start == end) {
        continue;
      }
      A top = static_cast<A>(data[start]);
      for (int64_t q = start + 1; q < end; ++q) {
        top = std::max(top, static_cast<A>(data[q]));
      }
      A sum = 0;
      for (int64_t q = start; q < end; ++q) {
        sum += std::exp(static_cast<A>(data[q]) - top);
      }
      const A scale = A(1) / sum;
      for (int64_t q = start; q < end; ++q) {
        out[q] = static_cast<T>(std::exp(static_cast<A>(data[q]) - top) * scale);
      }
    }
  });
  return sink.status();
}

} // namespace

KernelStatus softmax(const SoftmaxParams& p) {
  return dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    return dispatch_index(p.a.itype, [&](auto ti) {
      return softmax_impl<T, acc_t<T>, decltype(ti)>(p);
    });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
