// The row step of spgemm's symbolic phase on the CPU (Gustavson with a dense marker),
// shared by the host-side csr_spgemm_symbolic and the CsrSpgemmCount / CsrSpgemmFill
// primitives. Indexing goes through the GPU core's clamping helpers: columns outside
// [0, n_cols_b) and A's columns outside B's rows are skipped, as on the GPU.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gpu/core/csr.h"
#include "gpu/core/params.h"

namespace mlx_sparse::cpu {

template <typename I>
struct SpgemmPattern {
  const I* a_indptr;
  const I* a_cols;
  const I* b_indptr;
  const I* b_cols;
  gpu::SpgemmArgs args; // c_nnz unused

  // Appends row i's distinct columns of A @ B to `out`, ascending. `mark` has n_cols_b
  // entries, none equal to i (rows visited in increasing order from marks of -1 qualify).
  void row(int64_t i, std::vector<int64_t>& mark, std::vector<I>& out) const {
    const size_t begin = out.size();
    const gpu::Range ar = gpu::row_range(a_indptr, i, args.a_nnz);
    for (int64_t p = ar.start; p < ar.end; ++p) {
      const int64_t j = static_cast<int64_t>(a_cols[p]);
      if (!gpu::in_range(j, args.b_rows)) {
        continue;
      }
      const gpu::Range br = gpu::row_range(b_indptr, j, args.b_nnz);
      for (int64_t q = br.start; q < br.end; ++q) {
        const int64_t c = static_cast<int64_t>(b_cols[q]);
        if (gpu::in_range(c, args.n_cols_b) && mark[c] != i) {
          mark[c] = i;
          out.push_back(b_cols[q]);
        }
      }
    }
    std::sort(out.begin() + begin, out.end());
  }
};

} // namespace mlx_sparse::cpu
