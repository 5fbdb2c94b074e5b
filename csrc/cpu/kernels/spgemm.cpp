// spgemm (numeric phase) on the CPU: Gustavson's row-by-row product restricted to a given
// output pattern C; entries skipped by the CSR rule of ops.h contribute nothing, and C's
// entries outside its rows or columns are 0.
//   A: I indptr[m + 1], I indices[nnz_a], T a_data[nnz_a]   (m x l)
//   B: I indptr[l + 1], I indices[nnz_b], T b_data[nnz_b]   (l x n)
//   C: I indptr[m + 1], I indices[nnz_c] (unique columns per row), T c_data[nnz_c]
// Dense (p.parts blocks): each block keeps acc[n] (acc_t<T>) and a mask of C's columns for
// the current row in the scratch (all accumulators, then all masks); a product whose column
// is not in the mask is dropped.
// O(flops + nnz_c) per row. Positional (p.parts == 0, outputs too wide for dense blocks):
// each product finds its column in C's sorted row by binary search and adds into that
// entry (a float32 scratch slot per entry for 16-bit values). O(flops log(row of C)).
#include "cpu/kernels/common.h"
#include "gpu/core/csr.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename I>
struct Operands {
  const I *a_ptr, *a_col, *b_ptr, *b_col, *c_ptr, *c_col;
  const T *a_val, *b_val;
  T* c_val;
  explicit Operands(const SpgemmParams& p)
      : a_ptr(static_cast<const I*>(p.a.indptr)), a_col(static_cast<const I*>(p.a.indices)),
        b_ptr(static_cast<const I*>(p.b.indptr)), b_col(static_cast<const I*>(p.b.indices)),
        c_ptr(static_cast<const I*>(p.c.indptr)), c_col(static_cast<const I*>(p.c.indices)),
        a_val(static_cast<const T*>(p.a_data)), b_val(static_cast<const T*>(p.b_data)),
        c_val(static_cast<T*>(p.c_data)) {}

  // Calls f(c, a * b) for each product term of row i of A @ B that the rule keeps.
  template <typename A, typename F>
  void each_product(const SpgemmParams& p, int64_t i, F&& f) const {
    const Range ar = row_range(a_ptr, i, p.a.nnz);
    for (int64_t q = ar.start; q < ar.end; ++q) {
      const int64_t j = static_cast<int64_t>(a_col[q]);
      if (!in_range(j, p.a.n)) {
        continue;
      }
      const A av = static_cast<A>(a_val[q]);
      const Range br = row_range(b_ptr, j, p.b.nnz);
      for (int64_t r = br.start; r < br.end; ++r) {
        const int64_t c = static_cast<int64_t>(b_col[r]);
        if (in_range(c, p.b.n)) {
          f(c, av * static_cast<A>(b_val[r]));
        }
      }
    }
  }
};

template <typename T, typename A, typename I>
void dense_rows(const SpgemmParams& p, const Operands<T, I>& o, int64_t t, int64_t r0, int64_t r1) {
  const int64_t n = p.c.n;
  // the scratch: p.parts accumulators, then p.parts masks
  A* const accs = static_cast<A*>(p.scratch);
  A* acc = accs + t * n;
  unsigned char* in_c = reinterpret_cast<unsigned char*>(accs + p.parts * n) + t * n;
  std::fill(acc, acc + n, A(0));
  std::fill(in_c, in_c + n, 0);
  for (int64_t i = r0; i < r1; ++i) {
    const Range cr = row_range(o.c_ptr, i, p.c.nnz);
    for (int64_t q = cr.start; q < cr.end; ++q) {
      const int64_t c = static_cast<int64_t>(o.c_col[q]);
      if (in_range(c, n)) {
        in_c[c] = 1;
      }
    }
    o.template each_product<A>(p, i, [&](int64_t c, A v) {
      if (in_c[c]) {
        acc[c] += v;
      }
    });
    for (int64_t q = cr.start; q < cr.end; ++q) {
      const int64_t c = static_cast<int64_t>(o.c_col[q]);
      o.c_val[q] = in_range(c, n) ? static_cast<T>(acc[c]) : T(0);
      if (in_range(c, n)) {
        acc[c] = A(0);
        in_c[c] = 0;
      }
    }
  }
}

template <typename T, typename A, typename I>
void positional_rows(const SpgemmParams& p, const Operands<T, I>& o, int64_t r0, int64_t r1) {
  A* acc = std::is_same_v<T, A> ? reinterpret_cast<A*>(o.c_val) : static_cast<A*>(p.scratch);
  for (int64_t i = r0; i < r1; ++i) {
    const Range cr = row_range(o.c_ptr, i, p.c.nnz);
    std::fill(acc + cr.start, acc + cr.end, A(0));
    o.template each_product<A>(p, i, [&](int64_t c, A v) {
      const int64_t at = gpu::find_column(o.c_col, cr.start, cr.end, c);
      if (at >= 0) {
        acc[at] += v;
      }
    });
    if constexpr (!std::is_same_v<T, A>) {
      for (int64_t q = cr.start; q < cr.end; ++q) {
        o.c_val[q] = static_cast<T>(acc[q]);
      }
    }
  }
}

template <typename T, typename A, typename I>
void spgemm_impl(const SpgemmParams& p) {
  const Operands<T, I> o(p);
  const int64_t m = p.a.m;
  zero_outside_rows(o.c_ptr, m, p.c.nnz, o.c_val);
  int64_t bounds[kMaxParts + 1];
  const int64_t parts =
      row_blocks(o.c_ptr, m, p.c.nnz, p.parts > 0 ? p.parts : work_parts(p.c.nnz * 8), bounds);
  parallel_for(parts, [&](int64_t t) {
    if (p.parts > 0) {
      dense_rows<T, A, I>(p, o, t, bounds[t], bounds[t + 1]);
    } else {
      positional_rows<T, A, I>(p, o, bounds[t], bounds[t + 1]);
    }
  });
}

} // namespace

void spgemm(const SpgemmParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) { spgemm_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
