// cg_step on the CPU: one conjugate-gradient iteration in three parallel passes over the
// rows (sums in double; the row blocks' partial sums added in block order, so the result
// does not depend on the threads' timing):
//   1. Ap = A p and p.Ap          2. x += alpha p, r -= alpha Ap and r.r
//   3. p = r + beta p             (alpha = rz / p.Ap, beta = r.r / rz)
// Scalar updates of MLX ops would each be a pass over n: this is three. out may be the state
// itself (in place): every pass reads an element before writing it, and pass 1 writes only Ap.
#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// d where it is nonzero, else 1 (as linalg's _safe: a masked step stays finite).
double safe(double d) { return d != 0 ? d : 1.0; }

template <typename T, typename I>
void cg_step_impl(const CgStepParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const T* vals = static_cast<const T*>(p.data);
  const int64_t n = p.a.m, nnz = p.a.nnz;
  const T* in = static_cast<const T*>(p.state);
  T* out = static_cast<T*>(p.out);
  const T *x = in, *r = in + n, *pv = in + 2 * n;
  T *x2 = out, *r2 = out + n, *p2 = out + 2 * n, *ap = out + 3 * n;
  const double rz_in = static_cast<double>(in[4 * n]);
  const bool go = in[4 * n + 1] != T(0);
  const T it = in[4 * n + 2];
  if (!go) { // nothing moves
    if (out != in) {
      std::copy(in, in + 4 * n + 3, out);
    }
    return;
  }
  const int64_t parts = std::max<int64_t>(1, std::min(work_parts(nnz + 4 * n), n));
  double partial[kMaxParts];
  auto block = [&](int64_t t) { return std::pair{n * t / parts, n * (t + 1) / parts}; };
  auto total = [&]() {
    double s = 0;
    for (int64_t t = 0; t < parts; ++t) {
      s += partial[t];
    }
    return s;
  };
  parallel_for(parts, [&](int64_t t) {
    auto [lo, hi] = block(t);
    double s = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const Range rr = row_range(indptr, i, nnz);
      double acc = 0;
      for (int64_t q = rr.start; q < rr.end; ++q) {
        const int64_t c = static_cast<int64_t>(cols[q]);
        acc += in_range(c, n) ? static_cast<double>(vals[q]) * static_cast<double>(pv[c]) : 0.0;
      }
      ap[i] = static_cast<T>(acc);
      s += static_cast<double>(pv[i]) * acc;
    }
    partial[t] = s;
  });
  const T alpha = static_cast<T>(rz_in / safe(total()));
  parallel_for(parts, [&](int64_t t) {
    auto [lo, hi] = block(t);
    double s = 0;
    for (int64_t i = lo; i < hi; ++i) {
      x2[i] = x[i] + alpha * pv[i];
      r2[i] = r[i] - alpha * ap[i];
      s += static_cast<double>(r2[i]) * static_cast<double>(r2[i]);
    }
    partial[t] = s;
  });
  const double rz = total();
  const T beta = static_cast<T>(rz / safe(rz_in));
  parallel_for(parts, [&](int64_t t) {
    auto [lo, hi] = block(t);
    for (int64_t i = lo; i < hi; ++i) {
      p2[i] = r2[i] + beta * pv[i];
    }
  });
  out[4 * n] = static_cast<T>(rz);
  out[4 * n + 1] = rz > static_cast<double>(*static_cast<const T*>(p.tol2)) ? T(1) : T(0);
  out[4 * n + 2] = it + T(1);
}

} // namespace

void cg_step(const CgStepParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      dispatch_index(p.a.itype, [&](auto ti) { cg_step_impl<T, decltype(ti)>(p); });
    }
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
