// Host-side symbolic steps: patterns whose size depends on index values (spgemm's output,
// COO -> CSR canonicalisation). They evaluate their inputs, run on the kernel thread pool and
// return evaluated arrays; the values then flow through lazy primitives.
#include <algorithm>
#include <limits>
#include <new>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "message.h"
#include "cpu/host_csr.h"
#include "cpu/spgemm_pattern.h"
#include "cpu/thread_pool.h"
#include "gpu/core/spgemm.h"
#include "mlx/allocator.h"
#include "mlx/ops.h"
#include "mlx/transforms.h"
#include "ops.h"
#include "ops/common.h"

namespace mlx_sparse {

namespace mx = mlx::core;

namespace {

using cpu::new_index_array;
using cpu::validate_csr;

// Runs fn(r0, r1) over row blocks on the pool.
template <typename F>
void row_blocks(int64_t m, int64_t work, F&& fn) {
  int64_t parts = work < (1 << 14) ? 1 : std::min<int64_t>(m, cpu::num_threads() * 4);
  parts = std::max<int64_t>(parts, 1);
  cpu::parallel_for(parts, [&](int64_t t) { fn(m * t / parts, m * (t + 1) / parts); });
}

template <typename I>
std::vector<array> spgemm_symbolic_impl(const array& a_indptr, const array& a_indices,
                                        const array& b_indptr, const array& b_indices,
                                        int64_t n) {
  const char* op = "csr_spgemm";
  const I* ap = a_indptr.data<I>();
  const I* ac = a_indices.data<I>();
  const I* bp = b_indptr.data<I>();
  const I* bc = b_indices.data<I>();
  const int64_t m = a_indptr.size() - 1, l = b_indptr.size() - 1;
  validate_csr<I>(op, "A", ap, ac, m, a_indices.size(), l);
  validate_csr<I>(op, "B", bp, bc, l, b_indices.size(), n);
  const cpu::SpgemmPattern<I> pattern{
      ap, ac, bp, bc,
      {m, static_cast<int64_t>(a_indices.size()), l, static_cast<int64_t>(b_indices.size()), 0, n}};

  // C's size is checked before its columns are collected: against a bound (the product
  // terms, each row capped at n), and when that is too large, against an exact count.
  std::vector<int64_t> counts(m + 1, 0);
  int64_t bound = 0;
  for (int64_t i = 0; i < m; ++i) {
    counts[i + 1] = std::min(n, gpu::spgemm_bound_partial(ap, ac, bp, i, 0, 1, pattern.args));
    bound += counts[i + 1];
  }
  const int64_t parts = cpu::spgemm_row_blocks(m, bound, n);
  const bool marked = n * int64_t(sizeof(int64_t)) <= cpu::kMarkerBytes;
  if (bound > std::numeric_limits<int>::max()) {
    std::vector<int64_t> sizes(parts, 0);
    cpu::parallel_for(parts, [&](int64_t t) {
      std::vector<int64_t> mark(marked ? n : 0, -1);
      std::vector<I> cols;
      for (int64_t i = m * t / parts; i < m * (t + 1) / parts; ++i) {
        if (marked) {
          pattern.each_column(i, mark.data(), [&](I) { ++sizes[t]; });
        } else {
          cols.clear();
          pattern.row_unmarked(i, cols);
          sizes[t] += static_cast<int64_t>(cols.size());
        }
      }
    });
    detail::dim(op, std::accumulate(sizes.begin(), sizes.end(), int64_t(0)), "stored entries");
  }

  // One pass: each block collects its rows' sorted, unique columns; then they are copied
  // into place once the row counts are known.
  std::vector<std::vector<I>> block_cols(parts);
  cpu::parallel_for(parts, [&](int64_t t) {
    const int64_t r0 = m * t / parts, r1 = m * (t + 1) / parts;
    std::vector<int64_t> mark(marked ? n : 0, -1);
    auto& out = block_cols[t];
    for (int64_t i = r0; i < r1; ++i) {
      const size_t begin = out.size();
      if (marked) {
        pattern.row(i, mark.data(), out);
      } else {
        pattern.row_unmarked(i, out);
      }
      counts[i + 1] = static_cast<int64_t>(out.size() - begin);
    }
  });
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  const int64_t nnz = counts[m];
  array indptr = new_index_array<I>(m + 1);
  array indices = new_index_array<I>(detail::dim(op, nnz, "stored entries"));
  I* cp = indptr.data<I>();
  for (int64_t i = 0; i <= m; ++i) {
    cp[i] = static_cast<I>(counts[i]);
  }
  cpu::parallel_for(parts, [&](int64_t t) {
    std::copy(block_cols[t].begin(), block_cols[t].end(), indices.data<I>() + counts[m * t / parts]);
  });
  return {indptr, indices};
}

// The last entry of an int64 array, read on the host (evaluates it).
int64_t last_value(const array& x, mx::Stream s) {
  const int n = static_cast<int>(x.size());
  array v = mx::slice(x, mx::Shape{n - 1}, mx::Shape{n}, s);
  mx::eval({x, v});
  return v.item<int64_t>();
}

// The lazy steps (the GPU's symbolic phase): two host reads, the rest on the stream.
std::vector<array> spgemm_symbolic_steps(const array& a_indptr, const array& a_indices,
                                         const array& b_indptr, const array& b_indices,
                                         int64_t n, mx::Stream s) {
  array workspace = csr_spgemm_workspace(a_indptr, a_indices, b_indptr, b_indices, n, s);
  const int64_t slots = last_value(workspace, s);
  array indptr = csr_spgemm_count(a_indptr, a_indices, b_indptr, b_indices, workspace, slots, n, s);
  const int64_t nnz = last_value(indptr, s);
  array indices = csr_spgemm_fill(a_indptr, a_indices, b_indptr, b_indices, workspace, slots,
                                  indptr, nnz, n, s);
  return {mx::astype(indptr, a_indptr.dtype(), s), indices};
}

template <typename I>
std::vector<array> coo_tocsr_impl(const array& rows, const array& cols, int64_t m, int64_t n,
                                  bool sum_duplicates) {
  const char* op = "coo_tocsr";
  const I* r = rows.data<I>();
  const I* c = cols.data<I>();
  const int64_t nnz = rows.size();
  for (int64_t e = 0; e < nnz; ++e) {
    if (r[e] < 0 || r[e] >= m || c[e] < 0 || c[e] >= n) {
      detail::throw_coo_out_of_range(e, r[e], c[e], m, n);
    }
  }
  detail::dim(op, nnz, "entries");
  // counting sort by row (stable), then sort each row by column (stable)
  std::vector<int64_t> start(m + 1, 0);
  for (int64_t e = 0; e < nnz; ++e) {
    ++start[r[e] + 1];
  }
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<int64_t> order(nnz);
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t e = 0; e < nnz; ++e) {
      order[next[r[e]]++] = e;
    }
  }
  std::vector<int64_t> unique(m + 1, 0);
  row_blocks(m, nnz * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      auto b = order.begin() + start[i], e = order.begin() + start[i + 1];
      bool sorted = std::is_sorted(b, e, [&](int64_t x, int64_t y) { return c[x] < c[y]; });
      if (!sorted) {
        std::stable_sort(b, e, [&](int64_t x, int64_t y) { return c[x] < c[y]; });
      }
      int64_t u = 0;
      for (auto it = b; it != e; ++it) {
        u += (!sum_duplicates || it == b || c[*it] != c[*(it - 1)]);
      }
      unique[i + 1] = u;
    }
  });
  std::partial_sum(unique.begin(), unique.end(), unique.begin());
  const int64_t nnz_out = unique[m];
  array indptr = new_index_array<I>(m + 1);
  array indices = new_index_array<I>(nnz_out);
  array slot = new_index_array<I>(nnz);
  I* op_ = indptr.data<I>();
  I* oc = indices.data<I>();
  I* os = slot.data<I>();
  for (int64_t i = 0; i <= m; ++i) {
    op_[i] = static_cast<I>(unique[i]);
  }
  row_blocks(m, nnz * 2, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      int64_t pos = unique[i] - 1;
      for (int64_t q = start[i]; q < start[i + 1]; ++q) {
        int64_t e = order[q];
        if (!sum_duplicates || q == start[i] || c[e] != c[order[q - 1]]) {
          oc[++pos] = c[e];
        }
        os[e] = static_cast<I>(pos);
      }
    }
  });
  return {indptr, indices, slot};
}

} // namespace

int64_t cpu::spgemm_row_blocks(int64_t m, int64_t work, int64_t n_cols_b) {
  const int64_t parts =
      work < (1 << 14) ? 1 : std::min<int64_t>(std::max<int64_t>(m, 1), cpu::num_threads() * 4);
  const int64_t marker = std::max<int64_t>(1, n_cols_b) * int64_t(sizeof(int64_t));
  return marker > kMarkerBytes ? parts
                               : std::max<int64_t>(1, std::min(parts, kMarkerBytes / marker));
}

std::vector<array> csr_spgemm_symbolic(const array& a_indptr, const array& a_indices,
                                       const array& b_indptr, const array& b_indices,
                                       int64_t n_cols_b, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  if (detail::gpu_path(s)) {
    return spgemm_symbolic_steps(a_indptr, a_indices, b_indptr, b_indices, n_cols_b, s);
  }
  detail::check_spgemm_operands(a_indptr, a_indices, b_indptr, b_indices, n_cols_b, s);
  std::vector<array> in = {mx::contiguous(a_indptr), mx::contiguous(a_indices),
                           mx::contiguous(b_indptr), mx::contiguous(b_indices)};
  mx::eval(in);
  try {
    if (a_indptr.dtype() == mx::int64) {
      return spgemm_symbolic_impl<int64_t>(in[0], in[1], in[2], in[3], n_cols_b);
    }
    return spgemm_symbolic_impl<int32_t>(in[0], in[1], in[2], in[3], n_cols_b);
  } catch (const std::bad_alloc&) {
    detail::throw_out_of_memory("csr_spgemm", "finding C's pattern on the host");
  }
}

namespace detail {

std::vector<array> coo_tocsr_host(const array& rows, const array& cols, int64_t m, int64_t n,
                                  bool sum_duplicates, mx::Stream s) {
  std::vector<array> in = {mx::contiguous(rows, false, s), mx::contiguous(cols, false, s)};
  mx::eval(in);
  try {
    if (rows.dtype() == mx::int64) {
      return coo_tocsr_impl<int64_t>(in[0], in[1], m, n, sum_duplicates);
    }
    return coo_tocsr_impl<int32_t>(in[0], in[1], m, n, sum_duplicates);
  } catch (const std::bad_alloc&) {
    throw_out_of_memory("coo_tocsr", "sorting the entries on the host");
  }
}

} // namespace detail

} // namespace mlx_sparse
