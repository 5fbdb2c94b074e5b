// sum_duplicates (values) on the CPU: out[b, slot[e]] += data[b, e], summed in acc_t<T>.
//   T data[batch?][n_in], I slot[n_in], T out[batch][n_out]
// The slots come from the host-side canonicalisation, which checked them; a slot outside
// [0, n_out) is still reported, never written.
#include <vector>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
KernelStatus sum_duplicates_impl(const SumDuplicatesParams& p) {
  const I* slot = static_cast<const I*>(p.slot);
  StatusSink sink;
  std::vector<A> acc(p.n_out);
  using U = std::make_unsigned_t<I>;
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* vals = static_cast<const T*>(p.data) + b * p.n_in;
    T* out = static_cast<T*>(p.out) + b * p.n_out;
    std::fill(acc.begin(), acc.end(), A(0));
    for (int64_t e = 0; e < p.n_in; ++e) {
      if (static_cast<U>(slot[e]) >= static_cast<U>(p.n_out)) {
        sink.bad_column(e, static_cast<int64_t>(slot[e]));
        continue;
      }
      acc[slot[e]] += static_cast<A>(vals[e]);
    }
    for (int64_t q = 0; q < p.n_out; ++q) {
      out[q] = static_cast<T>(acc[q]);
    }
  }
  return sink.status();
}

} // namespace

KernelStatus sum_duplicates(const SumDuplicatesParams& p) {
  return dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    return dispatch_index(p.itype, [&](auto ti) {
      return sum_duplicates_impl<T, acc_t<T>, decltype(ti)>(p);
    });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
