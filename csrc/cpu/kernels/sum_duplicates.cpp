// sum_duplicates (values) on the CPU: out[b, slot[e]] += data[b, e], summed in acc_t<T>.
//   T data[batch?][n_in], I slot[n_in], T out[batch][n_out]
// The slots come from the host-side canonicalisation, which checked them; a slot outside
// [0, n_out) is still skipped, never written. 16-bit values sum in the float scratch.
#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
void sum_duplicates_impl(const SumDuplicatesParams& p) {
  const I* slot = static_cast<const I*>(p.slot);
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* vals = static_cast<const T*>(p.data) + b * p.n_in;
    T* out = static_cast<T*>(p.out) + b * p.n_out;
    A* acc = std::is_same_v<T, A> ? reinterpret_cast<A*>(out) : static_cast<A*>(p.scratch);
    std::fill(acc, acc + p.n_out, A(0));
    for (int64_t e = 0; e < p.n_in; ++e) {
      const int64_t s = static_cast<int64_t>(slot[e]);
      if (in_range(s, p.n_out)) {
        acc[s] += static_cast<A>(vals[e]);
      }
    }
    if constexpr (!std::is_same_v<T, A>) {
      for (int64_t q = 0; q < p.n_out; ++q) {
        out[q] = static_cast<T>(acc[q]);
      }
    }
  }
}

} // namespace

void sum_duplicates(const SumDuplicatesParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.itype, [&](auto ti) { sum_duplicates_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
