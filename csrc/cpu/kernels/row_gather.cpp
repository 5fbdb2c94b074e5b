// row_gather (values) on the CPU: each output row copies its source row's run of values, in
// balanced blocks of output rows. O(batch * nnz_out), memory-bound.
//   I indptr[m + 1], I rows[k], I new_indptr[k + 1], T data[batch?][nnz], T out[batch][nnz_out]
#include <cstring>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename I>
void row_gather_impl(const RowGatherParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* rows = static_cast<const I*>(p.rows);
  const I* new_indptr = static_cast<const I*>(p.new_indptr);
  parallel_rows(new_indptr, p.k, p.nnz_out, p.batch, 1, [&](int64_t b, int64_t lo, int64_t hi) {
    const T* data = static_cast<const T*>(p.data) + b * p.data_stride;
    T* out = static_cast<T*>(p.out) + b * p.nnz_out;
    for (int64_t r = lo; r < hi; ++r) {
      if (r + 16 < hi) { // random rows: their misses overlap only when fetched ahead
        const int64_t ahead = static_cast<int64_t>(rows[r + 16]);
        if (in_range(ahead, p.a.m)) {
          __builtin_prefetch(data + row_range(indptr, ahead, p.a.nnz).start);
        }
      }
      const Range dst = row_range(new_indptr, r, p.nnz_out);
      const int64_t src_row = static_cast<int64_t>(rows[r]);
      const Range src = in_range(src_row, p.a.m) ? row_range(indptr, src_row, p.a.nnz)
                                                 : Range{0, 0};
      const int64_t n = std::max<int64_t>(0, std::min(dst.end - dst.start, src.end - src.start));
      std::memcpy(out + dst.start, data + src.start, n * sizeof(T));
      std::fill(out + dst.start + n, out + std::max(dst.start + n, dst.end), T(0));
    }
  });
}

} // namespace

void row_gather(const RowGatherParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    dispatch_index(p.a.itype, [&](auto ti) { row_gather_impl<decltype(tv), decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
