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

  // Calls f(c) for every product term's column c of row i of A @ B (repeats included).
  template <typename F>
  void each_term(int64_t i, F&& f) const {
    const gpu::Range ar = gpu::row_range(a_indptr, i, args.a_nnz);
    for (int64_t p = ar.start; p < ar.end; ++p) {
      const int64_t j = static_cast<int64_t>(a_cols[p]);
      if (!gpu::in_range(j, args.b_rows)) {
        continue;
      }
      const gpu::Range br = gpu::row_range(b_indptr, j, args.b_nnz);
      for (int64_t q = br.start; q < br.end; ++q) {
        if (gpu::in_range(static_cast<int64_t>(b_cols[q]), args.n_cols_b)) {
          f(b_cols[q]);
        }
      }
    }
  }

  // Calls f(c) once per distinct column c of row i, in no order. `mark` has n_cols_b
  // entries, none equal to i (rows visited in increasing order from marks of -1 qualify).
  template <typename F>
  void each_column(int64_t i, int64_t* mark, F&& f) const {
    each_term(i, [&](I c) {
      if (mark[c] != i) {
        mark[c] = i;
        f(c);
      }
    });
  }

  // Appends row i's distinct columns to `out`, ascending.
  void row(int64_t i, int64_t* mark, std::vector<I>& out) const {
    const size_t begin = out.size();
    each_column(i, mark, [&](I c) { out.push_back(c); });
    std::sort(out.begin() + begin, out.end());
  }

  // The same with no marker (for outputs too wide for one): every term, sorted, deduplicated.
  void row_unmarked(int64_t i, std::vector<I>& out) const {
    const size_t begin = out.size();
    each_term(i, [&](I c) { out.push_back(c); });
    std::sort(out.begin() + begin, out.end());
    out.erase(std::unique(out.begin() + begin, out.end()), out.end());
  }
};

// Markers (n_cols_b int64 each) are kept within this many bytes in all: wider outputs use
// fewer row blocks, and outputs too wide for one marker go without (row_unmarked).
constexpr int64_t kMarkerBytes = int64_t(256) << 20;

// Row blocks for a symbolic pass of `work` terms: several per thread when worth it, no more
// than the markers' budget allows (at least 1).
int64_t spgemm_row_blocks(int64_t m, int64_t work, int64_t n_cols_b);

} // namespace mlx_sparse::cpu
