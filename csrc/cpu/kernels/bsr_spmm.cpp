// bsr_spmm on the CPU: Y = A @ X for a block CSR matrix A of R x C blocks.
//   I indptr[Mb + 1], I indices[nnzb], T data[batch?][nnzb][R][C], T X[batch?][Nb * C][k],
//   T out[batch][Mb * R][k]
// Block rows are split into parts of equal work over the pool (one part when small). In a
// block row an output tile of 4 rows x 2 vectors stays in registers (acc_t<T>) while the
// row's blocks stream past: each 2-vector slice of a row of X feeds 4 rows' multiply-adds.
// Column tiles are outermost, so the row's X panel (C x 2 vectors per block) stays in L1
// across row groups.
// Cost O(nnzb * R * C * k); blocks with a column outside [0, Nb) are skipped (ops.h).
#include "cpu/kernels/vec.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// out[r0 + u][c0, c0 + NV * L) (u < RB; L values per vector) of one block row: the sum over
// its blocks p and block columns c of vals[p][r0 + u][c] * X[cols[p] * C + c][c0 + ...]. CT is
// C when known (16, 32, 64: the common sizes), else 0.
template <int RB, int NV, int CT, typename T, typename A, typename I>
inline void tile(const I* cols, const T* vals, Range rg, const T* X, int64_t k, int64_t nb,
                 int64_t R, int64_t c_runtime, int64_t r0, int64_t c0, T* out) {
  using V = vec_t<A>;
  constexpr int L = sizeof(V) / sizeof(A);
  const int64_t C = CT > 0 ? CT : c_runtime;
  V acc[RB][NV] = {};
  for (int64_t p = rg.start; p < rg.end; ++p) {
    const int64_t j = static_cast<int64_t>(cols[p]);
    if (!in_range(j, nb)) {
      continue;
    }
    const T* blk = vals + (p * R + r0) * C;
    const T* xp = X + j * C * k + c0;
    for (int64_t c = 0; c < C; ++c) {
      V xv[NV];
      for (int v = 0; v < NV; ++v) {
        xv[v] = load<T, A>(xp + c * k + v * L);
      }
      for (int u = 0; u < RB; ++u) {
        const A a = static_cast<A>(blk[u * C + c]);
        for (int v = 0; v < NV; ++v) {
          acc[u][v] += a * xv[v];
        }
      }
    }
  }
  for (int u = 0; u < RB; ++u) {
    for (int v = 0; v < NV; ++v) {
      for (int l = 0; l < L; ++l) {
        out[(r0 + u) * k + c0 + v * L + l] = static_cast<T>(acc[u][v][l]);
      }
    }
  }
}

// Columns of a tail narrower than a vector: one value at a time.
template <int RB, int CT, typename T, typename A, typename I>
inline void tile_column(const I* cols, const T* vals, Range rg, const T* X, int64_t k,
                        int64_t nb, int64_t R, int64_t c_runtime, int64_t r0, int64_t c0,
                        T* out) {
  const int64_t C = CT > 0 ? CT : c_runtime;
  A acc[RB] = {};
  for (int64_t p = rg.start; p < rg.end; ++p) {
    const int64_t j = static_cast<int64_t>(cols[p]);
    if (!in_range(j, nb)) {
      continue;
    }
    const T* blk = vals + (p * R + r0) * C;
    const T* xp = X + j * C * k + c0;
    for (int64_t c = 0; c < C; ++c) {
      const A x = static_cast<A>(xp[c * k]);
      for (int u = 0; u < RB; ++u) {
        acc[u] += static_cast<A>(blk[u * C + c]) * x;
      }
    }
  }
  for (int u = 0; u < RB; ++u) {
    out[(r0 + u) * k + c0] = static_cast<T>(acc[u]);
  }
}

// One block row's R output rows (out points at its first): column tiles of 2 vectors, 1
// vector and single values, each over row groups of 4 rows and then single rows.
template <int CT, typename T, typename A, typename I>
void block_row(const I* cols, const T* vals, Range rg, const T* X, int64_t k, int64_t nb,
               int64_t R, int64_t C, T* out) {
  constexpr int L = sizeof(vec_t<A>) / sizeof(A);
  int64_t c0 = 0;
  auto rows = [&]<int NV>() {
    int64_t r0 = 0;
    for (; r0 + 4 <= R; r0 += 4) {
      tile<4, NV, CT, T, A, I>(cols, vals, rg, X, k, nb, R, C, r0, c0, out);
    }
    for (; r0 < R; ++r0) {
      tile<1, NV, CT, T, A, I>(cols, vals, rg, X, k, nb, R, C, r0, c0, out);
    }
    c0 += NV * L;
  };
  while (k - c0 >= 2 * L) {
    rows.template operator()<2>();
  }
  if (k - c0 >= L) {
    rows.template operator()<1>();
  }
  for (; c0 < k; ++c0) {
    int64_t r0 = 0;
    for (; r0 + 4 <= R; r0 += 4) {
      tile_column<4, CT, T, A, I>(cols, vals, rg, X, k, nb, R, C, r0, c0, out);
    }
    for (; r0 < R; ++r0) {
      tile_column<1, CT, T, A, I>(cols, vals, rg, X, k, nb, R, C, r0, c0, out);
    }
  }
}

template <int CT, typename T, typename A, typename I>
void bsr_spmm_impl(const BsrSpmmParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t mb = p.a.m, nb = p.a.n, nnzb = p.a.nnz, R = p.R, C = p.C, k = p.k;
  parallel_rows(indptr, mb, nnzb, p.batch, R * C * k, [&](int64_t b, int64_t i0, int64_t i1) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* X = static_cast<const T*>(p.x) + b * p.x_stride;
    T* out = static_cast<T*>(p.out) + b * mb * R * k;
    for (int64_t i = i0; i < i1; ++i) {
      block_row<CT, T, A, I>(cols, vals, row_range(indptr, i, nnzb), X, k, nb, R, C,
                             out + i * R * k);
    }
  });
}

} // namespace

void bsr_spmm(const BsrSpmmParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) {
      using I = decltype(ti);
      switch (p.C) {
        case 16: bsr_spmm_impl<16, T, acc_t<T>, I>(p); break;
        case 32: bsr_spmm_impl<32, T, acc_t<T>, I>(p); break;
        case 64: bsr_spmm_impl<64, T, acc_t<T>, I>(p); break;
        default: bsr_spmm_impl<0, T, acc_t<T>, I>(p); break;
      }
    });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
