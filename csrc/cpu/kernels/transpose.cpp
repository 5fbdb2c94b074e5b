// Structural kernels on the CPU: transpose (a counting sort by column) and rows (indptr
// expanded to one row index per entry).
//   transpose: I indptr[m + 1], I indices[nnz] -> I indptr_t[n + 1], I indices_t[nnz], I perm[nnz]
//   rows:      I indptr[m + 1] -> I rows[nnz]
// transpose is O(nnz + n) and stable, so A^T's rows list A's rows in increasing order (sorted
// indices) whatever the order of A's columns. Entries the CSR rule of ops.h skips are not in
// A^T: they follow its last row in perm, in increasing order, so perm stays a permutation.
#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// Counting sort by column over p.parts row blocks: each block counts its columns (slot n:
// its entries with a bad column), an exclusive scan over (column, block) gives every block
// its own write cursor per column, then blocks fill in parallel. Blocks cover rows in order,
// so the result stays stable. Row bounds are the running maximum of the clamped indptr:
// for any indptr every entry is counted once, so no cursor runs past nnz.
template <typename I>
void transpose_impl(const TransposeParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz, blocks = p.parts;
  I* tptr = static_cast<I*>(p.indptr_t);
  I* tcols = static_cast<I*>(p.indices_t);
  I* perm = static_cast<I*>(p.perm);
  int64_t* count = static_cast<int64_t*>(p.scratch);
  auto block_rows = [&](int64_t t, int64_t& r0, int64_t& r1) {
    r0 = m * t / blocks;
    r1 = m * (t + 1) / blocks;
  };
  int64_t first[kMaxParts + 1]; // where block t's first row starts (the running maximum)
  int64_t top = gpu::clamp_entry(indptr[0], nnz);
  for (int64_t t = 0, i = 0; t <= blocks; ++t) {
    const int64_t r0 = m * t / blocks;
    for (; i < r0; ++i) {
      top = std::max(top, gpu::clamp_entry(indptr[i + 1], nnz));
    }
    first[t] = top;
  }
  // calls f(row, entry) for every entry of block t's rows, in order
  auto each_entry = [&](int64_t t, auto&& f) {
    int64_t r0, r1;
    block_rows(t, r0, r1);
    int64_t start = first[t];
    for (int64_t i = r0; i < r1; ++i) {
      const int64_t end = std::max(start, gpu::clamp_entry(indptr[i + 1], nnz));
      for (int64_t q = start; q < end; ++q) {
        f(i, q);
      }
      start = end;
    }
  };
  parallel_for(blocks, [&](int64_t t) {
    int64_t* c = count + t * (n + 1);
    std::fill(c, c + n + 1, int64_t(0));
    each_entry(t, [&](int64_t, int64_t q) {
      const int64_t col = static_cast<int64_t>(cols[q]);
      ++c[in_range(col, n) ? col : n];
    });
  });
  int64_t run = 0; // exclusive scan in (column, block) order, then the skipped entries
  for (int64_t j = 0; j < n; ++j) {
    tptr[j] = static_cast<I>(run);
    for (int64_t t = 0; t < blocks; ++t) {
      int64_t c = count[t * (n + 1) + j];
      count[t * (n + 1) + j] = run;
      run += c;
    }
  }
  tptr[n] = static_cast<I>(run);
  const int64_t before = first[0], after = first[blocks]; // entries before / after the rows
  for (int64_t q = 0; q < before; ++q) {
    perm[run] = static_cast<I>(q);
    tcols[run++] = I(0);
  }
  for (int64_t t = 0; t < blocks; ++t) {
    int64_t c = count[t * (n + 1) + n];
    count[t * (n + 1) + n] = run;
    run += c;
  }
  for (int64_t q = after; q < nnz; ++q) {
    perm[run] = static_cast<I>(q);
    tcols[run++] = I(0);
  }
  parallel_for(blocks, [&](int64_t t) {
    int64_t* next = count + t * (n + 1);
    each_entry(t, [&](int64_t i, int64_t q) {
      const int64_t col = static_cast<int64_t>(cols[q]);
      const bool live = in_range(col, n);
      const int64_t dst = next[live ? col : n]++;
      tcols[dst] = static_cast<I>(live ? i : 0);
      perm[dst] = static_cast<I>(q);
    });
  });
}

template <typename I>
void rows_impl(const RowsParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  I* rows = static_cast<I*>(p.rows);
  const int64_t m = p.a.m, nnz = p.a.nnz;
  const Range span = entry_span(indptr, m, nnz);
  std::fill(rows, rows + span.start, I(-1));
  std::fill(rows + span.end, rows + nnz, I(-1));
  parallel_rows(indptr, m, nnz, 1, 1, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const Range r = row_range(indptr, i, nnz);
      std::fill(rows + r.start, rows + r.end, static_cast<I>(i));
    }
  });
}

} // namespace

void transpose(const TransposeParams& p) noexcept {
  dispatch_index(p.a.itype, [&](auto ti) { transpose_impl<decltype(ti)>(p); });
}

void rows(const RowsParams& p) noexcept {
  dispatch_index(p.a.itype, [&](auto ti) { rows_impl<decltype(ti)>(p); });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
