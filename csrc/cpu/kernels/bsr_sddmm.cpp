// bsr_sddmm on the CPU: every stored block of (G @ B^T) at a block CSR pattern of R x C blocks.
//   I indptr[Mb + 1], I indices[nnzb], T G[batch?][Mb * R][k], T B[batch?][Nb * C][k],
//   T out[batch][nnzb][R][C]
// Block rows are split into parts of equal work over the pool. Blocks of one vector to 64
// columns (and at most 64 rows) go by panels (panel_block: B's rows transposed a chunk of k at
// a time, then bsr_spmm's register tiles); others are R x C dot products in register tiles of
// 2 x 4 dots (vectorised over k), k cut into chunks so the block's rows stay in L2.
// Blocks in no block row, or with a column outside [0, Nb), are 0 (ops.h).
#include <algorithm>

#include "cpu/kernels/vec.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// Partial sums of k per chunk, and the largest block whose accumulators are chunked.
constexpr int64_t kChunk = 256;
constexpr int64_t kChunkedBlock = 64 * 64;

// acc[u * C + v] += <g[u], b[v]> over len values, for u < RB, v < CB (rows k apart).
template <int RB, int CB, typename T, typename A>
inline void dots(const T* g, const T* b, int64_t k, int64_t len, int64_t C, A* acc) {
  using V = vec_t<A>;
  constexpr int L = sizeof(V) / sizeof(A);
  V part[RB][CB] = {};
  int64_t q = 0;
  for (; q + L <= len; q += L) {
    V gv[RB], bv[CB];
    for (int u = 0; u < RB; ++u) {
      gv[u] = load<T, A>(g + u * k + q);
    }
    for (int v = 0; v < CB; ++v) {
      bv[v] = load<T, A>(b + v * k + q);
    }
    for (int u = 0; u < RB; ++u) {
      for (int v = 0; v < CB; ++v) {
        part[u][v] += gv[u] * bv[v];
      }
    }
  }
  for (int u = 0; u < RB; ++u) {
    for (int v = 0; v < CB; ++v) {
      A s = lane_sum<A>(part[u][v]);
      for (int64_t t = q; t < len; ++t) {
        s += static_cast<A>(g[u * k + t]) * static_cast<A>(b[v * k + t]);
      }
      acc[u * C + v] += s;
    }
  }
}

// acc[R][C] += G_rows[:, q0:q0+len] . B_rows[:, q0:q0+len]^T, in 2 x 4 tiles then the edges.
template <typename T, typename A>
void block_dots(const T* g, const T* b, int64_t k, int64_t len, int64_t R, int64_t C, A* acc) {
  int64_t r0 = 0;
  auto cols = [&]<int RB>() {
    int64_t c0 = 0;
    for (; c0 + 4 <= C; c0 += 4) {
      dots<RB, 4, T, A>(g + r0 * k, b + c0 * k, k, len, C, acc + r0 * C + c0);
    }
    for (; c0 < C; ++c0) {
      dots<RB, 1, T, A>(g + r0 * k, b + c0 * k, k, len, C, acc + r0 * C + c0);
    }
    r0 += RB;
  };
  while (r0 + 2 <= R) {
    cols.template operator()<2>();
  }
  if (r0 < R) {
    cols.template operator()<1>();
  }
}

// The panel form, for blocks of one vector to kPanelCols columns and at most kPanelCols
// rows: a chunk of kPanel values of k of the block's rows of B is transposed into a panel
// bt[q][Cp] (C padded with zero columns to whole vectors), so that acc[r][:] += G[r][q] *
// bt[q][:] runs in bsr_spmm's register tiles (4 rows x 2 vectors) with no horizontal sums.
constexpr int64_t kPanel = 64;
constexpr int64_t kPanelCols = 64;

// acc[u][c0 + ...] (u < RB, NV vectors; rows cp apart) += sum over q < len of
// g[u * k + q] * bt[q][c0 + ...].
template <int RB, int NV, typename T, typename A>
inline void panel_tile(const T* g, int64_t k, int64_t len, const A* bt, int64_t cp, A* acc) {
  using V = vec_t<A>;
  constexpr int L = sizeof(V) / sizeof(A);
  V a[RB][NV];
  for (int u = 0; u < RB; ++u) {
    for (int v = 0; v < NV; ++v) {
      a[u][v] = load<A, A>(acc + u * cp + v * L);
    }
  }
  for (int64_t q = 0; q < len; ++q) {
    V b[NV];
    for (int v = 0; v < NV; ++v) {
      b[v] = load<A, A>(bt + q * cp + v * L);
    }
    for (int u = 0; u < RB; ++u) {
      const A x = static_cast<A>(g[u * k + q]);
      for (int v = 0; v < NV; ++v) {
        a[u][v] += x * b[v];
      }
    }
  }
  for (int u = 0; u < RB; ++u) {
    for (int v = 0; v < NV; ++v) {
      __builtin_memcpy(acc + u * cp + v * L, &a[u][v], sizeof(V));
    }
  }
}

// acc[R][cp] = G_rows . B_rows^T for one block by panels; bt's padding columns must be 0.
template <typename T, typename A>
void panel_block(const T* g, const T* b, int64_t k, int64_t R, int64_t C, int64_t cp, A* bt,
                 A* acc) {
  constexpr int L = sizeof(vec_t<A>) / sizeof(A);
  std::fill(acc, acc + R * cp, A(0));
  for (int64_t q0 = 0; q0 < k; q0 += kPanel) {
    const int64_t len = std::min(kPanel, k - q0);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t q = 0; q < len; ++q) {
        bt[q * cp + c] = static_cast<A>(b[c * k + q0 + q]);
      }
    }
    int64_t r0 = 0;
    auto rows = [&]<int RB>() {
      int64_t c0 = 0;
      for (; c0 + 2 * L <= cp; c0 += 2 * L) {
        panel_tile<RB, 2, T, A>(g + r0 * k + q0, k, len, bt + c0, cp, acc + r0 * cp + c0);
      }
      if (c0 < cp) {
        panel_tile<RB, 1, T, A>(g + r0 * k + q0, k, len, bt + c0, cp, acc + r0 * cp + c0);
      }
      r0 += RB;
    };
    while (r0 + 4 <= R) {
      rows.template operator()<4>();
    }
    while (r0 < R) {
      rows.template operator()<1>();
    }
  }
}

template <typename T, typename A, typename I>
void bsr_sddmm_impl(const BsrSddmmParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t mb = p.a.m, nb = p.a.n, nnzb = p.a.nnz, R = p.R, C = p.C, k = p.k;
  const int64_t size = R * C;
  const int64_t chunk = size <= kChunkedBlock ? kChunk : std::max<int64_t>(k, 1);
  parallel_rows(indptr, mb, nnzb, p.batch, size * k, [&](int64_t b, int64_t i0, int64_t i1) {
    const T* G = static_cast<const T*>(p.g) + b * p.g_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * nnzb * size;
    if (i0 == 0) {
      const Range span = entry_span(indptr, mb, nnzb);
      std::fill(out, out + span.start * size, T(0));
      std::fill(out + span.end * size, out + nnzb * size, T(0));
    }
    constexpr int64_t L = sizeof(vec_t<A>) / sizeof(A);
    const int64_t cp = (C + L - 1) / L * L;
    const bool panels = C >= L && C <= kPanelCols && R <= kPanelCols;
    A small[kChunkedBlock];
    A bt[kPanel * kPanelCols];
    if (panels) {
      std::fill(bt, bt + kPanel * cp, A(0));
    }
    for (int64_t i = i0; i < i1; ++i) {
      const Range rg = row_range(indptr, i, nnzb);
      for (int64_t e = rg.start; e < rg.end; ++e) {
        const int64_t j = static_cast<int64_t>(cols[e]);
        T* o = out + e * size;
        if (!in_range(j, nb)) {
          std::fill(o, o + size, T(0));
          continue;
        }
        const T* g = G + i * R * k;
        const T* bb = B + j * C * k;
        if (panels) {
          panel_block<T, A>(g, bb, k, R, C, cp, bt, small);
          for (int64_t r = 0; r < R; ++r) {
            for (int64_t c = 0; c < C; ++c) {
              o[r * C + c] = static_cast<T>(small[r * cp + c]);
            }
          }
        } else if (size <= kChunkedBlock) {
          std::fill(small, small + size, A(0));
          for (int64_t q0 = 0; q0 < k; q0 += chunk) {
            block_dots<T, A>(g + q0, bb + q0, k, std::min(chunk, k - q0), R, C, small);
          }
          for (int64_t t = 0; t < size; ++t) {
            o[t] = static_cast<T>(small[t]);
          }
        } else { // a block past the stack accumulator: one dot over all of k at a time
          for (int64_t r = 0; r < R; ++r) {
            for (int64_t c = 0; c < C; ++c) {
              A s = 0;
              dots<1, 1, T, A>(g + r * k, bb + c * k, k, k, 1, &s);
              o[r * C + c] = static_cast<T>(s);
            }
          }
        }
      }
    }
  });
}

} // namespace

void bsr_sddmm(const BsrSddmmParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) { bsr_sddmm_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
