// spmv and spmm on the CPU: row-gather for A @ B, column-scatter for A^T @ B.
//   I indptr[m + 1], I indices[nnz], T data[batch?][nnz], T B[batch?][rows_b][k]
// Accumulates in acc_t<T>. Dense columns are processed in register tiles of W values so
// the row's entries are read once per tile; a remainder of < 4 columns rides along with the
// last tile, so cost grows smoothly with k (no cliff at k = 17).
#include <algorithm>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

// Widest tile: 32 values keep 2 x 4 AVX2 accumulators in registers (64 spilled).
constexpr int kTile = 32;

#if defined(__AVX2__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif

// Independent accumulator sets for a tile of W values: one FMA chain per vector register
// is latency-bound, so narrow tiles interleave U entries (about 8 vector registers in all).
template <int W, typename A>
constexpr int unroll() {
  constexpr int vecs = (W * int(sizeof(A)) + kVectorBytes - 1) / kVectorBytes;
  return vecs >= 8 ? 1 : vecs >= 4 ? 2 : 4;
}

// out_row[c0, c0 + W + TAIL) = sum_p data[p] * B[col[p], c0 + ...]
template <int W, int TAIL, typename T, typename A, typename I>
inline void gather_tile(const I* cols, const T* vals, int64_t start, int64_t end, const T* B,
                        int64_t k, int64_t c0, T* out_row) {
  constexpr int N = W + TAIL;
  constexpr int U = unroll<W, A>();
  A acc[U][N] = {};
  int64_t p = start;
  for (; p + U <= end; p += U) {
    for (int u = 0; u < U; ++u) {
      const A a = static_cast<A>(vals[p + u]);
      const T* brow = B + static_cast<int64_t>(cols[p + u]) * k + c0;
      for (int c = 0; c < N; ++c) {
        acc[u][c] += a * static_cast<A>(brow[c]);
      }
    }
  }
  for (; p < end; ++p) {
    const A a = static_cast<A>(vals[p]);
    const T* brow = B + static_cast<int64_t>(cols[p]) * k + c0;
    for (int c = 0; c < N; ++c) {
      acc[0][c] += a * static_cast<A>(brow[c]);
    }
  }
  for (int c = 0; c < N; ++c) {
    A s = acc[0][c];
    for (int u = 1; u < U; ++u) {
      s += acc[u][c];
    }
    out_row[c0 + c] = static_cast<T>(s);
  }
}

// out[col[p], c0 + ...] += data[p] * b_row[c0 + ...]   (A^T @ B, one row of A)
template <int W, int TAIL, typename T, typename A, typename I>
inline void scatter_tile(const I* cols, const T* vals, int64_t start, int64_t end,
                         const T* b_row, int64_t k, int64_t c0, A* out) {
  constexpr int N = W + TAIL;
  A bv[N];
  for (int c = 0; c < N; ++c) {
    bv[c] = static_cast<A>(b_row[c0 + c]);
  }
  for (int64_t p = start; p < end; ++p) {
    const A a = static_cast<A>(vals[p]);
    A* orow = out + static_cast<int64_t>(cols[p]) * k + c0;
    for (int c = 0; c < N; ++c) {
      orow[c] += a * bv[c];
    }
  }
}

// Calls tile.template operator()<W, TAIL>(c0) over columns [c_begin, c_end) in tiles of
// W in {kTile, 32, 16, 8, 4}; a remainder TAIL < 4 is fused into the last tile, so an odd k
// costs a few scalar FMAs per entry rather than another pass.
template <typename Tile>
inline void for_each_tile(int64_t c_begin, int64_t c_end, Tile&& tile) {
  int64_t c = c_begin;
  auto run = [&]<int W>(int tail) {
    switch (tail) {
      case 0: tile.template operator()<W, 0>(c); break;
      case 1: tile.template operator()<W, 1>(c); break;
      case 2: tile.template operator()<W, 2>(c); break;
      default: tile.template operator()<W, 3>(c); break;
    }
    c += W + tail;
  };
  auto step = [&]<int W>() {
    while (c_end - c >= W) {
      int64_t after = c_end - c - W;
      run.template operator()<W>(after < 4 ? static_cast<int>(after) : 0);
      if (W != kTile) {
        break;
      }
    }
  };
  step.template operator()<kTile>();
  if constexpr (kTile > 32) {
    step.template operator()<32>();
  }
  step.template operator()<16>();
  step.template operator()<8>();
  step.template operator()<4>();
  if (c < c_end) {
    run.template operator()<0>(static_cast<int>(c_end - c));
  }
}

// out_row[0, k) = sum over entries p of the row whose column is in [0, n) of
// vals[p] * B[cols[p], :]: a row with a bad column, off the hot path (the rule: skip it).
template <typename T, typename A, typename I>
[[gnu::noinline, gnu::cold]] void gather_row_skipping(const I* cols, const T* vals, int64_t start,
                                                      int64_t end, const T* B, int64_t k,
                                                      int64_t n, T* out_row) {
  for (int64_t c0 = 0; c0 < k; c0 += kTile) {
    const int64_t width = std::min<int64_t>(kTile, k - c0);
    A acc[kTile] = {};
    for (int64_t p = start; p < end; ++p) {
      const int64_t c = static_cast<int64_t>(cols[p]);
      if (in_range(c, n)) {
        const A a = static_cast<A>(vals[p]);
        for (int64_t j = 0; j < width; ++j) {
          acc[j] += a * static_cast<A>(B[c * k + c0 + j]);
        }
      }
    }
    for (int64_t j = 0; j < width; ++j) {
      out_row[c0 + j] = static_cast<T>(acc[j]);
    }
  }
}

// spmv over rows [r0, r1): y[i] = sum_p data[p] * x[col[p]]. A function of its own, with
// everything in locals, so the short-row loop keeps its state in registers; the checks are
// predictable branches in the same pass.
template <typename T, typename A, typename I>
[[gnu::noinline]] void spmv_rows(const I* __restrict indptr, const I* __restrict cols,
                                 const T* __restrict vals, const T* __restrict x,
                                 T* __restrict y, int64_t r0, int64_t r1, int64_t n,
                                 int64_t nnz) {
  using U = std::make_unsigned_t<I>;
  const U un = static_cast<U>(n);
  for (int64_t i = r0; i < r1; ++i) {
    int64_t start = indptr[i], end = indptr[i + 1];
    if (__builtin_expect(start < 0 || start > end || end > nnz, 0)) {
      const Range r = row_range(indptr, i, nnz);
      start = r.start;
      end = r.end;
    }
    A s0 = 0, s1 = 0;
    bool bad = false;
    int64_t q = start;
    for (; q + 2 <= end; q += 2) {
      const U c0 = static_cast<U>(cols[q]), c1 = static_cast<U>(cols[q + 1]);
      if (__builtin_expect((c0 >= un) | (c1 >= un), 0)) {
        bad = true;
        break;
      }
      s0 += static_cast<A>(vals[q]) * static_cast<A>(x[c0]);
      s1 += static_cast<A>(vals[q + 1]) * static_cast<A>(x[c1]);
    }
    if (!bad && q < end) {
      const U c0 = static_cast<U>(cols[q]);
      bad = c0 >= un;
      if (!bad) {
        s0 += static_cast<A>(vals[q]) * static_cast<A>(x[c0]);
      }
    }
    if (__builtin_expect(bad, 0)) {
      gather_row_skipping<T, A, I>(cols, vals, start, end, x, 1, n, y + i);
      continue;
    }
    y[i] = static_cast<T>(s0 + s1);
  }
}

template <typename T, typename A, typename I>
void product_gather(const ProductParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  // With perm, each row block first copies its values into A^T's order (disjoint ranges of
  // the scratch buffer), so the hot loop reads them in sequence.
  const I* perm = static_cast<const I*>(p.perm);
  parallel_rows(indptr, m, nnz, p.batch, k, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * m * k;
    if (perm) {
      T* dst = static_cast<T*>(p.scratch) + b * nnz;
      const int64_t q0 = gpu::clamp_entry(indptr[r0], nnz);
      const int64_t q1 = std::max(q0, gpu::clamp_entry(indptr[r1], nnz));
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t e = static_cast<int64_t>(perm[q]);
        dst[q] = in_range(e, nnz) ? vals[e] : T(0);
      }
      vals = dst;
    }
    if (k == 1) {
      spmv_rows<T, A, I>(indptr, cols, vals, B, out, r0, r1, n, nnz);
      return;
    }
    for (int64_t i = r0; i < r1; ++i) {
      const Range r = row_range(indptr, i, nnz);
      T* orow = out + i * k;
      if (!columns_in_range(cols, r.start, r.end, n)) {
        gather_row_skipping<T, A, I>(cols, vals, r.start, r.end, B, k, n, orow);
        continue;
      }
      for_each_tile(0, k, [&]<int W, int TAIL>(int64_t c0) {
        gather_tile<W, TAIL, T, A, I>(cols, vals, r.start, r.end, B, k, c0, orow);
      });
    }
  });
}

// out[n][k] = A^T @ B[m][k] by scattering rows of B: p.parts row blocks with private
// accumulators in the scratch (the first is the output itself when T is the accumulator
// type), summed at the end. The ops send only narrow k here (spmv^T, k < 16); wider
// products gather over A^T's structure instead.
template <typename T, typename A, typename I>
void product_scatter(const ProductParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  const int64_t row_parts = p.parts;
  constexpr bool direct = std::is_same_v<T, A>; // accumulate straight into out
  A* acc = static_cast<A*>(p.scratch);
  const int64_t acc_size = (direct ? row_parts - 1 : row_parts) * n * k;
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * n * k;
    auto buffer = [&](int64_t part) -> A* {
      if constexpr (direct) {
        return part == 0 ? reinterpret_cast<A*>(out) : acc + (part - 1) * n * k;
      } else {
        return acc + part * n * k;
      }
    };
    std::fill(buffer(0), buffer(0) + n * k, A(0));
    std::fill(acc, acc + acc_size, A(0));
    parallel_for(row_parts, [&](int64_t t) {
      A* dst = buffer(t);
      for (int64_t i = m * t / row_parts; i < m * (t + 1) / row_parts; ++i) {
        const Range r = row_range(indptr, i, nnz);
        if (!columns_in_range(cols, r.start, r.end, n)) {
          for (int64_t q = r.start; q < r.end; ++q) { // skip the bad entries
            const int64_t c = static_cast<int64_t>(cols[q]);
            for (int64_t j = 0; in_range(c, n) && j < k; ++j) {
              dst[c * k + j] += static_cast<A>(vals[q]) * static_cast<A>(B[i * k + j]);
            }
          }
          continue;
        }
        for_each_tile(0, k, [&]<int W, int TAIL>(int64_t c0) {
          scatter_tile<W, TAIL, T, A, I>(cols, vals, r.start, r.end, B + i * k, k, c0, dst);
        });
      }
    });
    if (direct && row_parts == 1) {
      continue;
    }
    // out = sum of the accumulators, converted to T
    const int64_t total = n * k;
    const int64_t chunks = total * row_parts >= kSerialWork ? row_parts : 1;
    parallel_for(chunks, [&](int64_t t) {
      for (int64_t e = total * t / chunks; e < total * (t + 1) / chunks; ++e) {
        A s = buffer(0)[e];
        for (int64_t r = 1; r < row_parts; ++r) {
          s += buffer(r)[e];
        }
        out[e] = static_cast<T>(s);
      }
    });
  }
}

void product(const ProductParams& p) {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.a.itype, [&](auto ti) {
      using I = decltype(ti);
      p.transpose ? product_scatter<T, acc_t<T>, I>(p) : product_gather<T, acc_t<T>, I>(p);
    });
  });
}

} // namespace

void spmv(const ProductParams& p) noexcept {
  product(p);
}

void spmm(const ProductParams& p) noexcept {
  product(p);
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
