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

// A's values in A^T's order: entry q of A^T is entry perm[q] of A (0 where perm is bad).
template <typename T, typename I>
struct Permuted {
  const T* vals;
  const I* perm;
  int64_t nnz;
  T operator[](int64_t q) const {
    const int64_t e = static_cast<int64_t>(perm[q]);
    return in_range(e, nnz) ? vals[e] : T(0);
  }
};

// Values of entries [start, ...) held at base[0, ...).
template <typename T>
struct Shifted {
  const T* base;
  int64_t start;
  T operator[](int64_t q) const { return base[q - start]; }
};
constexpr int64_t kRowValues = 256; // a row's values gathered on the stack, at most

// out_row[c0, c0 + W + TAIL) = sum_p data[p] * B[col[p], c0 + ...]
template <int W, int TAIL, typename T, typename A, typename I, typename V>
inline void gather_tile(const I* cols, V vals, int64_t start, int64_t end, const T* B,
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
template <typename T, typename A, typename I, typename V>
[[gnu::noinline, gnu::cold]] void gather_row_skipping(const I* cols, V vals, int64_t start,
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

// sum of vals[q] * x[cols[q]] over entries [s, e), skipping columns outside [0, n).
template <typename T, typename A, typename I>
inline A piece_sum(const I* cols, const T* vals, const T* x, int64_t s, int64_t e, int64_t n) {
  A sum = 0;
  for (int64_t q = s; q < e; ++q) {
    const int64_t c = static_cast<int64_t>(cols[q]);
    sum += in_range(c, n) ? static_cast<A>(vals[q]) * static_cast<A>(x[c]) : A(0);
  }
  return sum;
}

// The first row r in [0, m] whose (clamped) start is at or after entry e: the rows that start
// in a chunk are the chunk's. Stays in [0, m] for any indptr. Searches outward from the row
// that an even spread of entries would give, then bisects: a few probes in one region of
// indptr, where a plain bisection's 17 scattered probes per chunk of a 100k-row SpMV cost
// about a quarter of its time on one thread.
template <typename I>
inline int64_t first_row_from(const I* indptr, int64_t m, int64_t nnz, int64_t e) {
  if (m == 0) {
    return 0;
  }
  auto below = [&](int64_t r) {
    return gpu::clamp_entry(static_cast<int64_t>(indptr[r]), nnz) < e;
  };
  int64_t lo = 0, hi = m; // the answer is in [lo, hi]
  const int64_t guess = nnz > 0 ? std::clamp<int64_t>(e / (nnz / m + 1), 0, m - 1) : 0;
  if (below(guess)) {
    lo = guess + 1;
    for (int64_t step = 1; lo + step - 1 < hi; step *= 2) {
      const int64_t probe = lo + step - 1;
      if (!below(probe)) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
  } else {
    hi = guess;
    for (int64_t step = 1; hi - step >= lo; step *= 2) {
      const int64_t probe = hi - step;
      if (below(probe)) {
        lo = probe + 1;
        break;
      }
      hi = probe;
    }
  }
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (below(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// spmv in fixed chunks of kSpmvChunk entries over [P0, Pm) (the tasks, any number of threads).
// Chunk c holds the rows that start in it: those that also end in it are summed by spmv_rows;
// the last may run on (its piece in this chunk is open[c]), and the chunk's first entries may
// belong to a row started earlier (cont[c]). A row across chunks is then open + conts, in chunk
// order: one long row is split across threads, and no sum depends on the thread count.
template <typename T, typename A, typename I>
void spmv_chunked(const ProductParams& p, const I* indptr, const I* cols, A* pieces) {
  const int64_t m = p.a.m, n = p.a.n, nnz = p.a.nnz;
  const Range span = entry_span(indptr, m, nnz);
  const int64_t chunks = spmv_chunks(span.end - span.start);
  const I* perm = static_cast<const I*>(p.perm);
  auto bounds = [&](int64_t c) {
    return Range{std::min(span.end, span.start + c * kSpmvChunk),
                 std::min(span.end, span.start + (c + 1) * kSpmvChunk)};
  };
  auto chunk = [&](int64_t t) {
    const int64_t b = t / chunks, c = t % chunks;
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* x = static_cast<const T*>(p.b) + b * p.b_stride;
    T* y = static_cast<T*>(p.out) + b * m;
    A* open = pieces + 2 * (b * chunks + c);
    const Range at = bounds(c);
    if (perm) { // this chunk's values in A^T's order, read in sequence below
      T* dst = static_cast<T*>(p.scratch) + b * nnz;
      for (int64_t q = at.start; q < at.end; ++q) {
        const int64_t e = static_cast<int64_t>(perm[q]);
        dst[q] = in_range(e, nnz) ? vals[e] : T(0);
      }
      vals = dst;
    }
    const int64_t r0 = c == 0 ? 0 : first_row_from(indptr, m, nnz, at.start);
    const int64_t r1 = c + 1 == chunks ? m : first_row_from(indptr, m, nnz, at.end);
    open[0] = open[1] = A(0);
    if (r0 > 0) { // entries of row r0 - 1, begun in an earlier chunk
      const int64_t e = std::min(at.end, gpu::clamp_entry(static_cast<int64_t>(indptr[r0]), nnz));
      open[1] = piece_sum<T, A, I>(cols, vals, x, at.start, e, n);
    }
    if (r1 <= r0) {
      return;
    }
    const int64_t last_end = gpu::clamp_entry(static_cast<int64_t>(indptr[r1]), nnz);
    const int64_t full_end = last_end > at.end ? r1 - 1 : r1; // the last row runs on
    spmv_rows<T, A, I>(indptr, cols, vals, x, y, r0, full_end, n, nnz);
    if (full_end < r1) {
      const Range last = row_range(indptr, r1 - 1, nnz);
      open[0] = piece_sum<T, A, I>(cols, vals, x, last.start, at.end, n);
    }
  };
  const int64_t tasks = p.batch * chunks;
  if ((nnz + m) * p.batch < kSerialWork) {
    for (int64_t t = 0; t < tasks; ++t) {
      chunk(t);
    }
  } else {
    parallel_for(tasks, chunk);
  }
  if (chunks == 1) {
    return;
  }
  // rows across chunks: the open piece, then each later chunk's cont piece while the row lasts
  for (int64_t b = 0; b < p.batch; ++b) {
    T* y = static_cast<T*>(p.out) + b * m;
    const A* pc = pieces + 2 * b * chunks;
    for (int64_t c = 0; c + 1 < chunks; ++c) {
      const Range at = bounds(c);
      const int64_t r1 = first_row_from(indptr, m, nnz, at.end);
      const int64_t r0 = c == 0 ? 0 : first_row_from(indptr, m, nnz, at.start);
      if (r1 <= r0) {
        continue;
      }
      const int64_t row = r1 - 1;
      const int64_t end = gpu::clamp_entry(static_cast<int64_t>(indptr[r1]), nnz);
      if (end <= at.end) {
        continue; // ended in its chunk: written there
      }
      A sum = pc[2 * c];
      for (int64_t d = c + 1; d < chunks && bounds(d).start < end; ++d) {
        sum += pc[2 * d + 1];
      }
      y[row] = static_cast<T>(sum);
    }
  }
}

template <typename T, typename A, typename I>
void product_gather(const ProductParams& p) {
  const I* indptr = static_cast<const I*>(p.a.indptr);
  const I* cols = static_cast<const I*>(p.a.indices);
  const int64_t m = p.a.m, n = p.a.n, k = p.k, nnz = p.a.nnz;
  if (k == 1) { // the pieces follow the copy of the values (cpu/scratch.cpp)
    const int64_t copied = p.perm ? spmv_pieces_offset(nnz * p.batch * int64_t(sizeof(T))) : 0;
    spmv_chunked<T, A, I>(p, indptr, cols,
                          reinterpret_cast<A*>(static_cast<char*>(p.scratch) + copied));
    return;
  }
  // With perm (A^T @ B over A^T's structure), A's values are read through it in the hot loop,
  // where the k columns' FMAs hide the random reads (a copy into A^T's order first was
  // slower in each of four paired runs here, 1 and 2 threads).
  const I* perm = static_cast<const I*>(p.perm);
  auto row = [&](auto vals, const T* B, T* orow, Range r) {
    if (!columns_in_range(cols, r.start, r.end, n)) {
      gather_row_skipping<T, A, I>(cols, vals, r.start, r.end, B, k, n, orow);
      return;
    }
    for_each_tile(0, k, [&]<int W, int TAIL>(int64_t c0) {
      gather_tile<W, TAIL, T, A, I>(cols, vals, r.start, r.end, B, k, c0, orow);
    });
  };
  auto rows = [&](auto vals, const T* B, T* out, int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const Range r = row_range(indptr, i, nnz);
      if constexpr (std::is_pointer_v<decltype(vals)>) {
        row(vals, B, out + i * k, r);
      } else if (k > kTile && r.end - r.start <= kRowValues) {
        // several column tiles: the row's values gathered once, then read in sequence
        T local[kRowValues];
        for (int64_t q = r.start; q < r.end; ++q) {
          local[q - r.start] = vals[q];
        }
        row(Shifted<T>{local, r.start}, B, out + i * k, r);
      } else {
        row(vals, B, out + i * k, r);
      }
    }
  };
  parallel_rows(indptr, m, nnz, p.batch, k, [&](int64_t b, int64_t r0, int64_t r1) {
    const T* vals = static_cast<const T*>(p.data) + b * p.data_stride;
    const T* B = static_cast<const T*>(p.b) + b * p.b_stride;
    T* out = static_cast<T*>(p.out) + b * m * k;
    if (perm) {
      rows(Permuted<T, I>{vals, perm, nnz}, B, out, r0, r1);
    } else {
      rows(vals, B, out, r0, r1);
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
