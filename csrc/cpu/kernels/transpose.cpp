// Structural kernels on the CPU: transpose (a counting sort by column) and rows (indptr
// expanded to one row index per entry).
//   transpose: I indptr[m + 1], I indices[nnz] -> I indptr_t[n + 1], I indices_t[nnz], I perm[nnz]
//   rows:      I indptr[m + 1] -> I rows[nnz]
// transpose is O(nnz + n) and stable, so A^T's rows list A's rows in increasing order (sorted
// indices) whatever the order of A's columns.
#include <vector>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// Counting sort by column over row blocks: each block counts its columns, an exclusive scan
// over (column, block) gives every block its own write cursor per column, then blocks fill
// in parallel. Blocks cover rows in order, so the result stays stable.
template <typename I>
KernelStatus transpose_impl(const TransposeParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz;
  I* tptr = static_cast<I*>(p.indptr_t);
  I* tcols = static_cast<I*>(p.indices_t);
  I* perm = static_cast<I*>(p.perm);
  StatusSink sink;
  if (m > 0 && (indptr[0] != 0 || static_cast<int64_t>(indptr[m]) != nnz)) {
    sink.bad_indptr(indptr[0] != 0 ? 0 : m, indptr[0] != 0 ? indptr[0] : indptr[m]);
  }
  // blocks: few enough that blocks x n counters stay small
  int64_t blocks = nnz + m < kSerialWork ? 1 : std::min<int64_t>(num_threads(), kMaxParts);
  blocks = std::max<int64_t>(1, std::min<int64_t>(blocks, (int64_t(1) << 26) / std::max<int64_t>(n + 1, 1)));
  std::vector<int64_t> count(static_cast<size_t>(blocks * n), 0);
  auto block_rows = [&](int64_t t, int64_t& r0, int64_t& r1) {
    r0 = m * t / blocks;
    r1 = m * (t + 1) / blocks;
  };
  parallel_for(blocks, [&](int64_t t) {
    int64_t r0, r1;
    block_rows(t, r0, r1);
    int64_t* c = count.data() + t * n;
    for (int64_t i = r0; i < r1; ++i) {
      int64_t start, end;
      if (!row_range(indptr, i, nnz, start, end, sink) || !columns_ok(cols, start, end, n, i, sink)) {
        return;
      }
      for (int64_t q = start; q < end; ++q) {
        ++c[cols[q]];
      }
    }
  });
  if (!sink.status().ok()) {
    std::fill(tptr, tptr + n + 1, I(0));
    return sink.status();
  }
  int64_t run = 0; // exclusive scan in (column, block) order
  for (int64_t j = 0; j < n; ++j) {
    tptr[j] = static_cast<I>(run);
    for (int64_t t = 0; t < blocks; ++t) {
      int64_t c = count[t * n + j];
      count[t * n + j] = run;
      run += c;
    }
  }
  tptr[n] = static_cast<I>(run);
  parallel_for(blocks, [&](int64_t t) {
    int64_t r0, r1;
    block_rows(t, r0, r1);
    int64_t* next = count.data() + t * n;
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t q = indptr[i]; q < indptr[i + 1]; ++q) {
        int64_t dst = next[cols[q]]++;
        tcols[dst] = static_cast<I>(i);
        perm[dst] = static_cast<I>(q);
      }
    }
  });
  return sink.status();
}

template <typename I>
KernelStatus rows_impl(const RowsParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  I* rows = static_cast<I*>(p.rows);
  StatusSink sink;
  if (p.a.m > 0 && static_cast<int64_t>(indptr[p.a.m]) != p.a.nnz) {
    sink.bad_indptr(p.a.m, static_cast<int64_t>(indptr[p.a.m]));
    return sink.status();
  }
  parallel_rows(indptr, p.a.m, p.a.nnz, 1, 1, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      int64_t start, end;
      if (row_range(indptr, i, p.a.nnz, start, end, sink)) {
        std::fill(rows + start, rows + end, static_cast<I>(i));
      }
    }
  });
  return sink.status();
}

} // namespace

KernelStatus transpose(const TransposeParams& p) {
  return dispatch_index(p.a.itype, [&](auto ti) { return transpose_impl<decltype(ti)>(p); });
}

KernelStatus rows(const RowsParams& p) {
  return dispatch_index(p.a.itype, [&](auto ti) { return rows_impl<decltype(ti)>(p); });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
