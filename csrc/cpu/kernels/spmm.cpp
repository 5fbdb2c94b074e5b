// spmv and spmm on the CPU: row-gather for A @ B, column-scatter for A^T @ B.
//   I indptr[m + 1], I indices[nnz], T data[batch?][nnz], T B[batch?][rows_b][k]
// Accumulates in acc_t<T>. Dense columns are processed in register tiles of W values so
// the row's entries are read once per tile; a remainder of < 4 columns rides along with the
// last tile, so cost grows smoothly with k (no cliff at k = 17).
#include <cstring>
#include <vector>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

#if defined(__AVX2__)
constexpr int kTile = 64;
#else
constexpr int kTile = 32;
#endif

// out_row[c0, c0 + W + tail) = sum_p data[p] * B[col[p], c0 + ...]
template <int W, typename T, typename A, typename I>
inline void gather_tile(const I* cols, const T* vals, int64_t start, int64_t end, const T* B,
                        int64_t k, int64_t c0, int tail, T* out_row) {
  A acc[W > 0 ? W : 1] = {};
  A tacc[4] = {};
  for (int64_t p = start; p < end; ++p) {
    const A a = static_cast<A>(vals[p]);
    const T* brow = B + static_cast<int64_t>(cols[p]) * k + c0;
    for (int c = 0; c < W; ++c) {
      acc[c] += a * static_cast<A>(brow[c]);
    }
    for (int c = 0; c < tail; ++c) {
      tacc[c] += a * static_cast<A>(brow[W + c]);
    }
  }
  for (int c = 0; c < W; ++c) {
    out_row[c0 + c] = static_cast<T>(acc[c]);
  }
  for (int c = 0; c < tail; ++c) {
    out_row[c0 + W + c] = static_cast<T>(tacc[c]);
  }
}

// out[col[p], c0 + ...] += data[p] * b_row[c0 + ...]   (A^T @ B, one row of A)
template <int W, typename T, typename A, typename I>
inline void scatter_tile(const I* cols, const T* vals, int64_t start, int64_t end,
                         const T* b_row, int64_t k, int64_t c0, int tail, A* out) {
  A bv[W > 0 ? W : 1];
  A tb[4];
  for (int c = 0; c < W; ++c) {
    bv[c] = static_cast<A>(b_row[c0 + c]);
  }
  for (int c = 0; c < tail; ++c) {
    tb[c] = static_cast<A>(b_row[c0 + W + c]);
  }
  for (int64_t p = start; p < end; ++p) {
    const A a = static_cast<A>(vals[p]);
    A* orow = out + static_cast<int64_t>(cols[p]) * k + c0;
    for (int c = 0; c < W; ++c) {
      orow[c] += a * bv[c];
    }
    for (int c = 0; c < tail; ++c) {
      orow[W + c] += a * tb[c];
    }
  }
}

// Calls tile.template operator()<W>(c0, tail) over columns [c_begin, c_end) in tiles of
// W in {kTile, 32, 16, 8, 4}; a remainder below 4 is fused into the last tile.
template <typename Tile>
inline void for_each_tile(int64_t c_begin, int64_t c_end, Tile&& tile) {
  int64_t c = c_begin;
  auto step = [&]<int W>() {
    while (c_end - c >= W) {
      int64_t after = c_end - c - W;
      int tail = after < 4 ? static_cast<int>(after) : 0;
      tile.template operator()<W>(c, tail);
      c += W + tail;
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
    tile.template operator()<0>(c, static_cast<int>(c_end - c));
  }
}

template <typename T, typename A, typename I>
KernelStatus product_gather(const ProductParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  StatusSink sink;
  parallel_rows(indptr, m, nnz, p.batch, k, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * m * k;
    for (int64_t i = r0; i < r1; ++i) {
      int64_t start, end;
      T* orow = out + i * k;
      if (!row_range(indptr, i, nnz, start, end, sink) ||
          !columns_ok(cols, start, end, n, i, sink)) {
        std::fill(orow, orow + k, T(0));
        continue;
      }
      if (k == 1) { // spmv: four partial sums hide the add latency
        A s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t q = start;
        for (; q + 4 <= end; q += 4) {
          s0 += static_cast<A>(vals[q]) * static_cast<A>(B[cols[q]]);
          s1 += static_cast<A>(vals[q + 1]) * static_cast<A>(B[cols[q + 1]]);
          s2 += static_cast<A>(vals[q + 2]) * static_cast<A>(B[cols[q + 2]]);
          s3 += static_cast<A>(vals[q + 3]) * static_cast<A>(B[cols[q + 3]]);
        }
        for (; q < end; ++q) {
          s0 += static_cast<A>(vals[q]) * static_cast<A>(B[cols[q]]);
        }
        orow[0] = static_cast<T>((s0 + s1) + (s2 + s3));
        continue;
      }
      for_each_tile(0, k, [&]<int W>(int64_t c0, int tail) {
        gather_tile<W, T, A, I>(cols, vals, start, end, B, k, c0, tail, orow);
      });
    }
  });
  return sink.status();
}

// out[n][k] = A^T @ B[m][k]. Wide k: threads own disjoint column ranges of out and scatter
// all rows. Narrow k: threads own row blocks with private accumulators, summed at the end.
template <typename T, typename A, typename I>
KernelStatus product_scatter(const ProductParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  StatusSink sink;
  const int64_t threads = (nnz + m) * k >= kSerialWork ? num_threads() : 1;
  const int64_t col_parts = std::min<int64_t>(threads, k / 8);
  // private accumulators only for narrow k, and within a memory budget (64 MiB)
  const int64_t budget = std::max<int64_t>(1, (int64_t(64) << 20) / std::max<int64_t>(1, n * k * int64_t(sizeof(A))));
  const int64_t row_parts = col_parts >= 2 ? 1 : std::max<int64_t>(1, std::min(threads, budget));
  constexpr bool direct = std::is_same_v<T, A>; // accumulate straight into out
  std::vector<A> acc(static_cast<size_t>((direct ? row_parts - 1 : row_parts) * n * k));
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * n * k;
    auto buffer = [&](int64_t part) -> A* {
      if constexpr (direct) {
        return part == 0 ? reinterpret_cast<A*>(out) : acc.data() + (part - 1) * n * k;
      } else {
        return acc.data() + part * n * k;
      }
    };
    std::fill(buffer(0), buffer(0) + n * k, A(0));
    std::fill(acc.begin(), acc.end(), A(0));
    auto scatter_rows = [&](int64_t r0, int64_t r1, int64_t c_begin, int64_t c_end, A* dst) {
      for (int64_t i = r0; i < r1; ++i) {
        int64_t start, end;
        if (!row_range(indptr, i, nnz, start, end, sink) ||
            !columns_ok(cols, start, end, n, i, sink)) {
          continue;
        }
        for_each_tile(c_begin, c_end, [&]<int W>(int64_t c0, int tail) {
          scatter_tile<W, T, A, I>(cols, vals, start, end, B + i * k, k, c0, tail, dst);
        });
      }
    };
    if (col_parts >= 2) {
      parallel_for(col_parts, [&](int64_t t) {
        // column ranges aligned to 8 so that tiles stay full width
        int64_t c0 = (k * t / col_parts) & ~int64_t(7);
        int64_t c1 = t == col_parts - 1 ? k : (k * (t + 1) / col_parts) & ~int64_t(7);
        scatter_rows(0, m, c0, c1, buffer(0));
      });
    } else {
      parallel_for(row_parts, [&](int64_t t) {
        scatter_rows(m * t / row_parts, m * (t + 1) / row_parts, 0, k, buffer(t));
      });
    }
    if (direct && row_parts == 1) {
      continue;
    }
    // out = sum of the accumulators, converted to T
    const int64_t total = n * k;
    const int64_t chunks = total * row_parts >= kSerialWork ? threads : 1;
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
  return sink.status();
}

KernelStatus product(const ProductParams& p) {
  return dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    return dispatch_index(p.a.itype, [&](auto ti) {
      using I = decltype(ti);
      return p.transpose ? product_scatter<T, acc_t<T>, I>(p) : product_gather<T, acc_t<T>, I>(p);
    });
  });
}

} // namespace

KernelStatus spmv(const ProductParams& p) {
  return product(p);
}

KernelStatus spmm(const ProductParams& p) {
  return product(p);
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
