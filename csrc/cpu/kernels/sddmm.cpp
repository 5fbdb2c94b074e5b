// sddmm on the CPU: out[b, e] = <G[b, row(e), :], B[b, col(e), :]> over the stored entries.
//   I indptr[m + 1], I indices[nnz], T G[batch?][m][k], T B[batch?][n][k], T out[batch][nnz]
// Rows are split into blocks of equal work; each dot product keeps 16 partial sums so the
// compiler vectorises it over k.
#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A>
inline A dot(const T* x, const T* y, int64_t k) {
  constexpr int L = 16;
  A s[L] = {};
  int64_t c = 0;
  for (; c + L <= k; c += L) {
    for (int j = 0; j < L; ++j) {
      s[j] += static_cast<A>(x[c + j]) * static_cast<A>(y[c + j]);
    }
  }
  A r = 0;
  for (; c < k; ++c) {
    r += static_cast<A>(x[c]) * static_cast<A>(y[c]);
  }
  for (int j = 0; j < L; ++j) {
    r += s[j];
  }
  return r;
}

template <typename T, typename A, typename I>
void sddmm_impl(const SddmmParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  parallel_rows(indptr, m, nnz, p.batch, k, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* G = static_cast<const T*>(p.g) + b * p.g_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * nnz;
    if (r0 == 0) {
      zero_outside_rows(indptr, m, nnz, out);
    }
    for (int64_t i = r0; i < r1; ++i) {
      const Range r = row_range(indptr, i, nnz);
      const T* grow = G + i * k;
      for (int64_t q = r.start; q < r.end; ++q) {
        const int64_t c = static_cast<int64_t>(cols[q]);
        out[q] = in_range(c, n) ? static_cast<T>(dot<T, A>(grow, B + c * k, k)) : T(0);
      }
    }
  });
}

} // namespace

void sddmm(const SddmmParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) { sddmm_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
