// row_gather on the CPU: eval_cpu of the values' primitive, and the host-side structure of
// A[rows] (new indptr by a running sum of the rows' lengths, new indices by one copy per row).
#include <algorithm>
#include <cstring>
#include <limits>

#include "cpu/eval_common.h"
#include "cpu/host_csr.h"
#include "cpu/thread_pool.h"
#include "mlx/transforms.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

constexpr const char* kOp = "csr_row_gather";

// Rows fetched ahead of the copy (cpu/kernels/row_gather.cpp uses the same distance).
constexpr int64_t kAhead = 16;

// Reads only what A[rows] needs, so checks only that: each row in range and its run inside
// [0, nnz] (O(k), not a pass over A).
template <typename I>
std::vector<array> structure_impl(const array& indptr, const array& indices, const array& rows) {
  const I* ip = indptr.data<I>();
  const I* ix = indices.data<I>();
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1;
  const int64_t nnz = static_cast<int64_t>(indices.size());
  const int64_t k = static_cast<int64_t>(rows.size());
  const I* rw = rows.data<I>();
  array new_indptr = cpu::new_index_array<I>(k + 1);
  I* np = new_indptr.data<I>();
  np[0] = 0;
  // two passes over blocks of rows, in parallel: each block's running lengths (relative),
  // then its offset added while its indices are copied. Random rows are latency-bound, so
  // both passes fetch ahead and both threads add misses in flight.
  const int64_t parts = k < 4096 ? 1 : std::min<int64_t>(cpu::num_threads(), k);
  std::vector<int64_t> sums(parts + 1, 0), bad(parts, -1);
  cpu::parallel_for(parts, [&](int64_t t) {
    const int64_t lo = k * t / parts, hi = k * (t + 1) / parts;
    int64_t total = 0;
    for (int64_t r = lo; r < hi; ++r) {
      if (r + kAhead < hi) {
        const int64_t ahead = static_cast<int64_t>(rw[r + kAhead]);
        __builtin_prefetch(ip + std::clamp<int64_t>(ahead, 0, m));
      }
      const int64_t i = static_cast<int64_t>(rw[r]);
      if (i < 0 || i >= m || ip[i] < 0 || ip[i] > ip[i + 1] || ip[i + 1] > nnz) {
        bad[t] = r;
        return;
      }
      total += static_cast<int64_t>(ip[i + 1] - ip[i]);
      np[r + 1] = static_cast<I>(std::min<int64_t>(total, std::numeric_limits<I>::max()));
    }
    sums[t + 1] = total;
  });
  for (int64_t t = 0; t < parts; ++t) {
    if (bad[t] >= 0) {
      Message msg;
      msg << "[" << kOp << "] row " << rw[bad[t]] << " is out of range for " << m
          << " rows, or its indptr run is not inside [0, nnz].";
      throw std::invalid_argument(msg.str());
    }
    sums[t + 1] += sums[t];
  }
  const int64_t total = sums[parts];
  if (total > std::numeric_limits<I>::max()) {
    throw std::overflow_error("[csr_row_gather] the result has more entries than its index "
                              "dtype holds; use int64 indices.");
  }
  array new_indices = cpu::new_index_array<I>(detail::dim(kOp, total, "stored entries"));
  I* nx = new_indices.data<I>();
  cpu::parallel_for(parts, [&](int64_t t) {
    const int64_t lo = k * t / parts, hi = k * (t + 1) / parts;
    const I offset = static_cast<I>(sums[t]);
    int64_t at = sums[t];
    for (int64_t r = lo; r < hi; ++r) {
      if (r + kAhead < hi) {
        __builtin_prefetch(ix + ip[rw[r + kAhead]]);
      }
      const int64_t i = static_cast<int64_t>(rw[r]);
      const int64_t n = static_cast<int64_t>(ip[i + 1] - ip[i]);
      std::memcpy(nx + at, ix + ip[i], n * sizeof(I));
      at += n;
      np[r + 1] += offset; // each block writes only its own rows' ends
    }
  });
  return {new_indptr, new_indices};
}

} // namespace

std::vector<array> csr_row_gather_structure(const array& indptr, const array& indices,
                                            const array& rows, StreamOrDevice) {
  detail::check_structure(kOp, indptr, indices);
  if (rows.ndim() != 1) {
    throw std::invalid_argument("[csr_row_gather] rows must be 1-D.");
  }
  // arrays already evaluated and row-major are read as they are: an MLX eval of even a
  // no-op graph costs more than the whole gather of 10k rows
  auto host = [&](const array& a) {
    return a.dtype() == indptr.dtype() && a.is_available() && a.flags().row_contiguous
               ? a
               : mlx::core::contiguous(mlx::core::astype(a, indptr.dtype()));
  };
  std::vector<array> in = {host(indptr), host(indices), host(rows)};
  if (!std::all_of(in.begin(), in.end(), [](const array& a) { return a.is_available(); })) {
    mlx::core::eval(in);
  }
  const bool wide = indptr.dtype() == mlx::core::int64;
  return wide ? structure_impl<int64_t>(in[0], in[1], in[2])
              : structure_impl<int32_t>(in[0], in[1], in[2]);
}

void CsrRowGather::eval_cpu(const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  RowGatherParams p;
  p.a = cpu::csr_view(in[0], in[0], 0);
  p.a.nnz = in[1].shape(-1);
  p.rows = in[2].data<void>();
  p.new_indptr = in[3].data<void>();
  p.data = in[1].data<void>();
  p.out = out.data<void>();
  p.k = static_cast<int64_t>(in[2].size());
  p.nnz_out = out.shape(-1);
  p.batch = p.nnz_out == 0 ? 0 : static_cast<int64_t>(out.size()) / p.nnz_out;
  p.data_stride = cpu::batch_stride(in[1], p.a.nnz, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch > 0) {
    cpu::launch(stream(), &cpu::row_gather, p);
  }
}

} // namespace mlx_sparse
