// flash_attention on the CPU (docs/developer/flash_attention.md has the contract).
//   T q[B][lq][d], k[B][lk][d], v[B][lk][dv]; int32 row_ptr[B * Mb + 1], col[n_blocks] and the
//   transpose t_ptr[B * Nb + 1], t_row[n_blocks], t_block[n_blocks]; T bias and uint8 mask
//   [n_blocks][bs][bs]; T o[B][lq][dv], float lse[B][lq].
// Forward: per query block row R = b * Mb + i, an online softmax over the row's key blocks, one
// (bs x bs) score tile at a time, in float32. Backward: delta = rowsum(dO * o) - dlse; then per
// query block row dq and dbias, and per key block column (over the transpose) dk and dv, so
// every output has one writer and no atomics. Rows and columns go in parts of equal work.
// Tiles are converted to float32 (k and v also transposed) so that every inner loop runs over
// a contiguous d, dv or bs and vectorises without a reduction.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// exp(x) in float32 without a call, so that loops over a tile vectorise: x = n ln2 + r with
// |r| <= ln2 / 2, exp(r) by Cephes' degree-6 polynomial (about 2 ulp), 2^n into the
// exponent. Exactly 0 below -87.3 (and for -inf, masked scores), +inf above 88.7.
inline float exp_tile(float x) {
  const float xc = std::min(std::max(x, -87.3f), 88.7f);
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, 4);
  bits += static_cast<int32_t>(n) << 23;
  std::memcpy(&p, &bits, 4);
  return x < -87.3f ? 0.0f : (x > 88.7f ? std::numeric_limits<float>::infinity() : p);
}

// dst[r][c] = scale * src[r][c], rows x cols.
template <typename T>
inline void load(const T* src, int64_t rows, int64_t cols, float scale, float* dst) {
  for (int64_t x = 0; x < rows * cols; ++x) {
    dst[x] = scale * static_cast<float>(src[x]);
  }
}

// dst[c][r] = src[r][c]: a (rows x cols) block transposed.
template <typename T>
inline void load_t(const T* src, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      dst[c * rows + r] = static_cast<float>(src[r * cols + c]);
    }
  }
}

template <typename T>
inline void store(const float* src, int64_t n, float scale, T* dst) {
  for (int64_t x = 0; x < n; ++x) {
    dst[x] = static_cast<T>(scale * src[x]);
  }
}

// Eight floats as one value (GCC/Clang vector extension): a ymm register with AVX2, two xmm
// in the base build. Plain loops over small accumulator arrays were not kept in registers.
// (Its functions are internal, so the base build's warning about the AVX calling convention
// does not apply.)
using v8 = float __attribute__((vector_size(32)));
#pragma GCC diagnostic ignored "-Wpsabi"

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store8(float* p, v8 v) {
  std::memcpy(p, &v, sizeof(v));
}

// out[i][8j..8j+8) (+)= sum_x w[i * w_row + x * w_col] * b[x * b_row + 8j..] for i < R, j < V:
// R x V accumulators in registers, each row of b loaded once for R rows of out.
template <int R, int V, bool Add>
inline void gemm_block(const float* w, int64_t w_row, int64_t w_col, const float* b,
                       int64_t b_row, int64_t n, float* out, int64_t out_row) {
  v8 acc[R][V];
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < V; ++j) {
      acc[i][j] = Add ? load8(out + i * out_row + 8 * j) : v8{};
    }
  }
  for (int64_t x = 0; x < n; ++x) {
    v8 bx[V];
    for (int j = 0; j < V; ++j) {
      bx[j] = load8(b + x * b_row + 8 * j);
    }
    for (int i = 0; i < R; ++i) {
      const v8 wi = v8{} + w[i * w_row + x * w_col];
      for (int j = 0; j < V; ++j) {
        acc[i][j] += wi * bx[j];
      }
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < V; ++j) {
      store8(out + i * out_row + 8 * j, acc[i][j]);
    }
  }
}

// The same for one column (tails that are not a multiple of 8; the op admits none).
template <bool Add>
inline void gemm_column(const float* w, int64_t w_row, int64_t w_col, const float* b,
                        int64_t b_row, int64_t n, int64_t rows, float* out, int64_t out_row) {
  for (int64_t i = 0; i < rows; ++i) {
    float acc = Add ? out[i * out_row] : 0.0f;
    for (int64_t x = 0; x < n; ++x) {
      acc += w[i * w_row + x * w_col] * b[x * b_row];
    }
    out[i * out_row] = acc;
  }
}

// out[rows][cols] (+)= W B over n: W read through strides (w_col = BS reads a transposed
// tile), B[n][cols] with row stride b_row, out with row stride out_row; rows % 4 == 0.
template <bool Add>
inline void gemm(const float* w, int64_t w_row, int64_t w_col, const float* b, int64_t b_row,
                 int64_t n, int64_t rows, int64_t cols, float* out, int64_t out_row) {
  for (int64_t i = 0; i + 4 <= rows; i += 4) {
    const float* wi = w + i * w_row;
    float* oi = out + i * out_row;
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      gemm_block<4, 2, Add>(wi, w_row, w_col, b + j, b_row, n, oi + j, out_row);
    }
    for (; j + 8 <= cols; j += 8) {
      gemm_block<4, 1, Add>(wi, w_row, w_col, b + j, b_row, n, oi + j, out_row);
    }
    for (; j < cols; ++j) {
      gemm_column<Add>(wi, w_row, w_col, b + j, b_row, n, 4, oi + j, out_row);
    }
  }
}

// s[BS][BS] = a[BS][n] @ bt[n][BS].
template <int BS>
inline void tile_nt(const float* a, const float* bt, int64_t n, float* s) {
  gemm<false>(a, n, 1, bt, BS, n, BS, BS, s, BS);
}

// acc[BS][n] += w[BS][BS] @ b[BS][n].
template <int BS>
inline void tile_nn_add(const float* w, const float* b, int64_t n, float* acc) {
  gemm<true>(w, BS, 1, b, n, BS, BS, n, acc, n);
}

// acc[BS][n] += w[BS][BS]^T @ b[BS][n].
template <int BS>
inline void tile_tn_add(const float* w, const float* b, int64_t n, float* acc) {
  gemm<true>(w, 1, BS, b, n, BS, BS, n, acc, n);
}

// s += bias block e, and -inf where mask block e is set.
template <int BS, typename T>
inline void bias_and_mask(const AttentionParams& p, int64_t e, float* s) {
  constexpr int64_t tile = int64_t(BS) * BS;
  if (p.bias) {
    const T* bias = static_cast<const T*>(p.bias) + e * tile;
    for (int64_t x = 0; x < tile; ++x) {
      s[x] += static_cast<float>(bias[x]);
    }
  }
  if (p.mask) {
    const uint8_t* mask = p.mask + e * tile;
    for (int64_t x = 0; x < tile; ++x) {
      s[x] = mask[x] ? kNegInf : s[x];
    }
  }
}

// p = exp(s - lse) per row (0 where s or lse is -inf), in place.
template <int BS>
inline void probabilities(float* s, const float* lse) {
  for (int r = 0; r < BS; ++r) {
    const float top = lse[r] == kNegInf ? 0.0f : lse[r];
    const float live = lse[r] == kNegInf ? 0.0f : 1.0f;
    for (int c = 0; c < BS; ++c) {
      s[r * BS + c] = live * exp_tile(s[r * BS + c] - top);
    }
  }
}

// One part's float tiles (cpu/scratch.cpp sizes them: bs * (4d + 4dv + 2bs + 4) floats).
struct Tiles {
  float *q, *k, *kt, *acc_d, *v, *o, *acc_v, *vt, *s, *dp, *m, *l, *lse, *delta;
  Tiles(float* base, int64_t bs, int64_t d, int64_t dv) {
    float* x = base;
    for (float** t : {&q, &k, &kt, &acc_d}) {
      *t = x;
      x += bs * d;
    }
    for (float** t : {&v, &o, &acc_v, &vt}) {
      *t = x;
      x += bs * dv;
    }
    for (float** t : {&s, &dp}) {
      *t = x;
      x += bs * bs;
    }
    for (float** t : {&m, &l, &lse, &delta}) {
      *t = x;
      x += bs;
    }
  }
};

float* part_tiles(const AttentionParams& p, int64_t part) {
  const int64_t delta = p.d_o ? p.a.batch * p.a.lq : 0;
  return static_cast<float*>(p.scratch) + delta + part * attention_tile_floats(p.a);
}

// Runs fn(tiles, first, last) over parts of the block rows of ptr (rows x n_blocks).
template <typename F>
void parallel_blocks(const AttentionParams& p, const int32_t* ptr, int64_t rows, F&& fn) {
  int64_t bounds[kMaxParts + 1];
  const int64_t parts = row_blocks(ptr, rows, p.a.n_blocks, p.parts, bounds);
  parallel_for(parts, [&](int64_t t) {
    Tiles tiles(part_tiles(p, t), p.a.bs, p.a.d, p.a.dv);
    fn(tiles, bounds[t], bounds[t + 1]);
  });
}

template <int BS, typename T>
void forward(const AttentionParams& p) {
  const auto& a = p.a;
  const int64_t d = a.d, dv = a.dv, mb = a.lq / BS, nb = a.lk / BS;
  parallel_blocks(p, p.row_ptr, a.batch * mb, [&](Tiles& t, int64_t r0, int64_t r1) {
    for (int64_t R = r0; R < r1; ++R) {
      const int64_t b = R / mb, row0 = R * BS; // first query row, over the flattened batch
      load(static_cast<const T*>(p.q) + row0 * d, BS, d, a.scale, t.q);
      std::fill(t.o, t.o + BS * dv, 0.0f);
      std::fill(t.m, t.m + BS, kNegInf);
      std::fill(t.l, t.l + BS, 0.0f);
      const Range blocks = row_range(p.row_ptr, R, a.n_blocks);
      for (int64_t e = blocks.start; e < blocks.end; ++e) {
        const int64_t j = p.col[e];
        if (!in_range(j, nb)) {
          continue;
        }
        const int64_t key0 = b * a.lk + j * BS;
        load_t(static_cast<const T*>(p.k) + key0 * d, BS, d, t.kt);
        tile_nt<BS>(t.q, t.kt, d, t.s);
        bias_and_mask<BS, T>(p, e, t.s);
        for (int r = 0; r < BS; ++r) { // online softmax: rescale what row r has so far
          float* sr = t.s + r * BS;
          float top = t.m[r];
          for (int c = 0; c < BS; ++c) {
            top = std::max(top, sr[c]);
          }
          if (top == kNegInf) {
            std::fill(sr, sr + BS, 0.0f);
            continue;
          }
          float sum = 0.0f;
          for (int c = 0; c < BS; ++c) {
            sr[c] = exp_tile(sr[c] - top);
            sum += sr[c];
          }
          const float alpha = std::exp(t.m[r] - top);
          t.l[r] = t.l[r] * alpha + sum;
          t.m[r] = top;
          if (alpha != 1.0f) {
            for (int64_t y = 0; y < dv; ++y) {
              t.o[r * dv + y] *= alpha;
            }
          }
        }
        const T* vb = static_cast<const T*>(p.v) + key0 * dv;
        const float* vf = t.v;
        if constexpr (std::is_same_v<T, float>) {
          vf = vb;
        } else {
          load(vb, BS, dv, 1.0f, t.v);
        }
        tile_nn_add<BS>(t.s, vf, dv, t.o);
      }
      T* o = static_cast<T*>(p.o) + row0 * dv;
      for (int r = 0; r < BS; ++r) {
        const bool live = t.l[r] > 0.0f;
        store(t.o + r * dv, dv, live ? 1.0f / t.l[r] : 0.0f, o + r * dv);
        p.lse[row0 + r] = live ? t.m[r] + std::log(t.l[r]) : kNegInf;
      }
    }
  });
}

// Backward's common step for query block R against key block (j, e): s -> p = exp(s - lse)
// in t.s, and ds = p (dp - delta) in t.dp, with dp = dO v^T (t.o holds dO, t.vt v^T).
template <int BS, typename T>
void grad_tile(const AttentionParams& p, Tiles& t, int64_t e) {
  const int64_t d = p.a.d, dv = p.a.dv;
  tile_nt<BS>(t.q, t.kt, d, t.s);
  bias_and_mask<BS, T>(p, e, t.s);
  probabilities<BS>(t.s, t.lse);
  tile_nt<BS>(t.o, t.vt, dv, t.dp);
  for (int r = 0; r < BS; ++r) {
    for (int c = 0; c < BS; ++c) {
      t.dp[r * BS + c] = t.s[r * BS + c] * (t.dp[r * BS + c] - t.delta[r]);
    }
  }
}

// Query block row R's scaled q, dO, lse and delta into the tiles.
template <int BS, typename T>
void load_query_block(const AttentionParams& p, const float* delta, Tiles& t, int64_t R) {
  const int64_t row0 = R * BS;
  load(static_cast<const T*>(p.q) + row0 * p.a.d, BS, p.a.d, p.a.scale, t.q);
  load(static_cast<const T*>(p.d_o) + row0 * p.a.dv, BS, p.a.dv, 1.0f, t.o);
  std::copy(p.lse + row0, p.lse + row0 + BS, t.lse);
  std::copy(delta + row0, delta + row0 + BS, t.delta);
}

template <int BS, typename T>
void backward(const AttentionParams& p) {
  const auto& a = p.a;
  const int64_t d = a.d, dv = a.dv, mb = a.lq / BS, nb = a.lk / BS;
  constexpr int64_t tile = int64_t(BS) * BS;
  float* delta = static_cast<float*>(p.scratch);
  T* dbias = static_cast<T*>(p.dbias);
  if (dbias) { // blocks that no row holds (only in a layout that was not checked)
    const Range span = entry_span(p.row_ptr, a.batch * mb, a.n_blocks);
    std::fill(dbias, dbias + span.start * tile, T(0));
    std::fill(dbias + span.end * tile, dbias + a.n_blocks * tile, T(0));
  }
  // dq and dbias per query block row; delta first, which the key columns read next
  parallel_blocks(p, p.row_ptr, a.batch * mb, [&](Tiles& t, int64_t r0, int64_t r1) {
    for (int64_t R = r0; R < r1; ++R) {
      const int64_t b = R / mb, row0 = R * BS;
      const T* o = static_cast<const T*>(p.o) + row0 * dv;
      const T* d_o = static_cast<const T*>(p.d_o) + row0 * dv;
      for (int r = 0; r < BS; ++r) {
        float sum = 0.0f;
        for (int64_t y = 0; y < dv; ++y) {
          sum += static_cast<float>(d_o[r * dv + y]) * static_cast<float>(o[r * dv + y]);
        }
        delta[row0 + r] = sum - p.d_lse[row0 + r];
      }
      load_query_block<BS, T>(p, delta, t, R);
      std::fill(t.acc_d, t.acc_d + BS * d, 0.0f);
      const Range blocks = row_range(p.row_ptr, R, a.n_blocks);
      for (int64_t e = blocks.start; e < blocks.end; ++e) {
        const int64_t j = p.col[e];
        if (!in_range(j, nb)) {
          if (dbias) {
            std::fill(dbias + e * tile, dbias + (e + 1) * tile, T(0));
          }
          continue;
        }
        const int64_t key0 = b * a.lk + j * BS;
        const T* kb = static_cast<const T*>(p.k) + key0 * d;
        load_t(kb, BS, d, t.kt);
        load_t(static_cast<const T*>(p.v) + key0 * dv, BS, dv, t.vt);
        grad_tile<BS, T>(p, t, e);
        if (dbias) {
          store(t.dp, tile, 1.0f, dbias + e * tile);
        }
        load(kb, BS, d, 1.0f, t.k);
        tile_nn_add<BS>(t.dp, t.k, d, t.acc_d);
      }
      store(t.acc_d, BS * d, a.scale, static_cast<T*>(p.dq) + row0 * d);
    }
  });
  // dk and dv per key block column, over the transpose
  parallel_blocks(p, p.t_ptr, a.batch * nb, [&](Tiles& t, int64_t c0, int64_t c1) {
    for (int64_t C = c0; C < c1; ++C) {
      const int64_t b = C / nb, key0 = C * BS;
      load_t(static_cast<const T*>(p.k) + key0 * d, BS, d, t.kt);
      load_t(static_cast<const T*>(p.v) + key0 * dv, BS, dv, t.vt);
      std::fill(t.acc_d, t.acc_d + BS * d, 0.0f);
      std::fill(t.acc_v, t.acc_v + BS * dv, 0.0f);
      const Range blocks = row_range(p.t_ptr, C, a.n_blocks);
      for (int64_t x = blocks.start; x < blocks.end; ++x) {
        const int64_t i = p.t_row[x], e = p.t_block[x];
        if (!in_range(i, mb) || !in_range(e, a.n_blocks)) {
          continue;
        }
        load_query_block<BS, T>(p, delta, t, b * mb + i);
        grad_tile<BS, T>(p, t, e);
        tile_tn_add<BS>(t.s, t.o, dv, t.acc_v);  // dv += p^T dO
        tile_tn_add<BS>(t.dp, t.q, d, t.acc_d);  // dk += ds^T (scale q)
      }
      store(t.acc_d, BS * d, 1.0f, static_cast<T*>(p.dk) + key0 * d);
      store(t.acc_v, BS * dv, 1.0f, static_cast<T*>(p.dv) + key0 * dv);
    }
  });
}

// What a block size or value type the op never makes gets: o = 0, lse = -inf, gradients 0.
void defined_outputs(const AttentionParams& p) {
  const auto& a = p.a;
  const int64_t bytes = p.vtype == ValueType::float32 ? 4 : p.vtype == ValueType::float64 ? 8 : 2;
  if (!p.d_o) {
    std::memset(p.o, 0, a.batch * a.lq * a.dv * bytes);
    std::fill(p.lse, p.lse + a.batch * a.lq, kNegInf);
    return;
  }
  std::memset(p.dq, 0, a.batch * a.lq * a.d * bytes);
  std::memset(p.dk, 0, a.batch * a.lk * a.d * bytes);
  std::memset(p.dv, 0, a.batch * a.lk * a.dv * bytes);
  if (p.dbias) {
    std::memset(p.dbias, 0, a.n_blocks * a.bs * a.bs * bytes);
  }
}

// Calls f.template operator()<BS, T>() for the block size and value type of p.
template <typename F>
void dispatch_attention(const AttentionParams& p, F&& f) {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    if constexpr (std::is_same_v<T, double>) {
      defined_outputs(p);
    } else {
      switch (p.a.bs) {
        case 16:
          f.template operator()<16, T>();
          break;
        case 32:
          f.template operator()<32, T>();
          break;
        case 64:
          f.template operator()<64, T>();
          break;
        default:
          defined_outputs(p);
          break;
      }
    }
  });
}

} // namespace

void flash_attention(const AttentionParams& p) noexcept {
  dispatch_attention(p, [&]<int BS, typename T>() { forward<BS, T>(p); });
}

void flash_attention_grad(const AttentionParams& p) noexcept {
  dispatch_attention(p, [&]<int BS, typename T>() { backward<BS, T>(p); });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
