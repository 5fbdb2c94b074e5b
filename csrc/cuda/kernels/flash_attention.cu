// flash_attention on CUDA (contract: docs/developer/flash_attention.md). One thread block per
// query block row (forward, dq) or key block column (dk/dv), bs / 16 warps, each warp owning
// 16 rows of the (bs x bs) score tile in registers. Products run on tensor cores through
// mma.sync m16n8k16 (float16/bfloat16 in, float32 accumulation); float32 inputs take the
// same tiling with plain float32 FMAs per lane (no TF32 rounding). Operands pass through
// shared memory 128 bytes of a row at a time (16-byte loads), the second product's operand
// staged transposed so that every fragment is read as 32-bit pairs; p and ds go to shared
// memory in the input dtype. A block writes kOwn output columns (grid.y covers wider heads,
// recomputing the scores). No atomics: each output element has one writer.
// Kernel names: flash_attention_<forward|dq|dkdv>_bs<bs>_<dtype>_int32 and
// flash_attention_delta_<dtype>.
#include <type_traits>

#include "mma.cuh"
#include "gpu/core/flash_attention.h"

namespace mlx_sparse::gpu {

namespace {

// Reduction columns staged per step: 128 bytes of a row.
template <typename T>
constexpr int kChunk = 128 / static_cast<int>(sizeof(T));
constexpr int kOwn = 64; // output columns per thread block

// Shared-memory rows padded by 16 bytes so that the lanes of a fragment load spread over banks.
template <typename T>
constexpr int padded(int cols) {
  return cols + 16 / static_cast<int>(sizeof(T));
}

// A shared-memory matrix read as an mma operand: element (r, k) of an (rows x reduction)
// operand stored row-major, reduction contiguous.
template <typename T>
struct Operand {
  const T* p;
  int ld;
  __device__ __forceinline__ float at(int r, int k) const { return to_float(p[r * ld + k]); }
  // elements (r, k) and (r, k + 1), the first in the low half
  __device__ __forceinline__ uint32_t pair(int r, int k) const {
    return *reinterpret_cast<const uint32_t*>(p + r * ld + k);
  }
};

// acc[N0 + n] (16 x 8 tiles in mma's C layout, n < N) += a[r0 .. r0 + 16, 0 .. K) times
// b[8n .. 8n + 8, 0 .. K)^T. Tensor cores for 16-bit types (each A fragment loaded once per
// k step); float32 by this lane's own FMAs over the same layout.
template <typename T, int N0, int N, int K, int M>
__device__ __forceinline__ void warp_product(float (&acc)[M][4], const Operand<T>& a, int r0,
                                             const Operand<T>& b, int lane) {
  const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
  for (int k0 = 0; k0 < K; k0 += 16) {
    if constexpr (sizeof(T) == 4) {
#pragma unroll
      for (int n = 0; n < N; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int r = r0 + g + (i >> 1) * 8, c = n * 8 + t2 + (i & 1);
          float v = acc[N0 + n][i];
#pragma unroll
          for (int k = 0; k < 16; ++k) {
            v = fmaf(a.at(r, k0 + k), b.at(c, k0 + k), v);
          }
          acc[N0 + n][i] = v;
        }
      }
    } else {
      const uint32_t frag[4] = {a.pair(r0 + g, k0 + t2), a.pair(r0 + g + 8, k0 + t2),
                                a.pair(r0 + g, k0 + t2 + 8), a.pair(r0 + g + 8, k0 + t2 + 8)};
#pragma unroll
      for (int n = 0; n < N; ++n) {
        mma_16816<T>(acc[N0 + n], frag, b.pair(n * 8 + g, k0 + t2), b.pair(n * 8 + g, k0 + t2 + 8));
      }
    }
  }
}

// Shared memory of every pass: two staged operand chunks and one (bs x bs) tile (p or ds).
// b holds either BS rows of kChunk columns or, transposed, kChunk rows of BS.
template <typename T, int BS>
struct alignas(16) Staging {
  static constexpr int kLd = padded<T>(kChunk<T>), kTileLd = padded<T>(BS);
  static constexpr int kB = BS * kLd > kChunk<T> * kTileLd ? BS * kLd : kChunk<T> * kTileLd;
  T a[BS * kLd];
  T b[kB];
  T tile[BS * kTileLd];
};

// 16-byte vectors when the rows allow (d and dv are multiples of 8 by contract), else scalars.
template <typename T>
__device__ __forceinline__ bool vector_rows(const T* src, int64_t ld) {
  constexpr int V = 16 / sizeof(T);
  return (reinterpret_cast<uintptr_t>(src) & 15) == 0 && ld % V == 0;
}

// Columns [c0, c0 + kChunk) of src's BS rows (row stride ld), 0 past column `cols` (a
// multiple of the vector width when vec), into dst[r * kLd + c], or transposed into
// dst[c * kTileLd + r].
template <typename T, int BS, bool kTransposed>
__device__ __forceinline__ void stage(T* dst, const T* src, int64_t ld, int64_t c0,
                                      int64_t cols) {
  constexpr int C = kChunk<T>, V = 16 / sizeof(T);
  constexpr int kLd = Staging<T, BS>::kLd, kTLd = Staging<T, BS>::kTileLd;
  if (vector_rows(src, ld)) {
    for (int x = threadIdx.x; x < BS * C / V; x += BS * 2) {
      const int r = x / (C / V), c = (x % (C / V)) * V;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (c0 + c < cols) {
        v = *reinterpret_cast<const uint4*>(src + r * ld + c0 + c);
      }
      if constexpr (kTransposed) {
        const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          dst[(c + j) * kTLd + r] = e[j];
        }
      } else {
        *reinterpret_cast<uint4*>(dst + r * kLd + c) = v;
      }
    }
    return;
  }
  for (int x = threadIdx.x; x < BS * C; x += BS * 2) {
    const int r = x / C, c = x % C;
    const T v = c0 + c < cols ? src[r * ld + c0 + c] : from_float<T>(0.0f);
    dst[kTransposed ? c * kTLd + r : r * kLd + c] = v;
  }
}

// acc[BS/8] (this warp's 16 rows x BS columns) = x[16 rows] . y[BS rows]^T over `depth`
// columns, both read from global memory with row stride `depth`. x is staged again unless
// `x_staged` (the caller staged all of it, depth <= kChunk).
template <typename T, int BS>
__device__ __forceinline__ void tile_product(float (&acc)[BS / 8][4], Staging<T, BS>& sm,
                                             const T* x, const T* y, int64_t depth, int warp,
                                             int lane, bool x_staged = false) {
  constexpr int C = kChunk<T>;
#pragma unroll
  for (int n = 0; n < BS / 8; ++n) {
    acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  }
  const Operand<T> a{sm.a, Staging<T, BS>::kLd}, b{sm.b, Staging<T, BS>::kLd};
  for (int64_t c0 = 0; c0 < depth; c0 += C) {
    __syncthreads();
    if (!x_staged) {
      stage<T, BS, false>(sm.a, x, depth, c0, depth);
    }
    stage<T, BS, false>(sm.b, y, depth, c0, depth);
    __syncthreads();
    warp_product<T, 0, BS / 8, C>(acc, a, warp * 16, b, lane);
  }
}

// Part P of tile_times: columns [c0 + P * kChunk, + kChunk) of y, staged transposed.
template <typename T, int BS, int P>
__device__ __forceinline__ void tile_times_part(float (&acc)[kOwn / 8][4], Staging<T, BS>& sm,
                                                const T* y, int64_t width, int64_t c0,
                                                int warp, int lane) {
  constexpr int C = kChunk<T>;
  __syncthreads();
  stage<T, BS, true>(sm.b, y, width, c0 + P * C, width);
  __syncthreads();
  const Operand<T> a{sm.tile, Staging<T, BS>::kTileLd}, b{sm.b, Staging<T, BS>::kTileLd};
  warp_product<T, P * C / 8, C / 8, BS>(acc, a, warp * 16, b, lane);
}

// acc[kOwn/8] += tile[16 rows of this warp][BS] . y[BS rows][c0 .. c0 + kOwn) (y's row stride
// `width`, columns past `width` read as 0).
template <typename T, int BS>
__device__ __forceinline__ void tile_times(float (&acc)[kOwn / 8][4], Staging<T, BS>& sm,
                                           const T* y, int64_t width, int64_t c0, int warp,
                                           int lane) {
  static_assert(kOwn == kChunk<T> || kOwn == 2 * kChunk<T>, "kOwn is one or two chunks");
  tile_times_part<T, BS, 0>(acc, sm, y, width, c0, warp, lane);
  if constexpr (kOwn == 2 * kChunk<T>) {
    tile_times_part<T, BS, 1>(acc, sm, y, width, c0, warp, lane);
  }
}

// Sum and maximum over the four lanes of a quad (the lanes sharing a row of the C layout).
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// The (row, column) of element i of n-tile n in this lane's C fragment, within the tile.
struct Place {
  int row, col;
};
__device__ __forceinline__ Place place(int warp, int lane, int n, int i) {
  return {warp * 16 + (lane >> 2) + (i >> 1) * 8, n * 8 + (lane & 3) * 2 + (i & 1)};
}

// Block e's bias and mask at (row, col) of its stored (bs x bs) tile, as one score.
template <typename T, int BS>
__device__ __forceinline__ float score(float dot, const T* bias, const uint8_t* mask, int64_t e,
                                       int row, int col, const AttentionArgs& a) {
  const int64_t at = attention_block_entry(e, BS, row, col);
  return attention_score(dot, a.scale, a.has_bias ? to_float(bias[at]) : 0.0f,
                         a.has_mask && mask[at] != 0);
}

// Writes acc * factor (this warp's 16 rows x kOwn columns from c0) into out[rows][width].
template <typename T>
__device__ __forceinline__ void write_rows(T* out, int64_t width, int64_t c0,
                                           const float (&acc)[kOwn / 8][4], const float (&f)[2],
                                           int warp, int lane) {
#pragma unroll
  for (int n = 0; n < kOwn / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const Place at = place(warp, lane, n, i);
      if (c0 + at.col < width) {
        out[at.row * width + c0 + at.col] = from_float<T>(acc[n][i] * f[i >> 1]);
      }
    }
  }
}

template <int N>
__device__ __forceinline__ void zero(float (&acc)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n) {
    acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  }
}

// Scores of block e (this warp's 16 rows of the tile product s), bias and mask applied, then
// the online softmax: acc and sum rescaled to the new running maximum, s turned into weights.
template <typename T, int BS>
__device__ __forceinline__ void softmax_step(float (&s)[BS / 8][4], float (&acc)[kOwn / 8][4],
                                             float (&run_max)[2], float (&sum)[2],
                                             const T* bias, const uint8_t* mask, int64_t e,
                                             const AttentionArgs& a, int warp, int lane) {
  float tile_max[2] = {MS_NEG_INF, MS_NEG_INF};
#pragma unroll
  for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const Place at = place(warp, lane, n, i);
      s[n][i] = score<T, BS>(s[n][i], bias, mask, e, at.row, at.col, a);
      tile_max[i >> 1] = fmaxf(tile_max[i >> 1], s[n][i]);
    }
  }
  float factor[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    factor[h] = online_softmax_rescale(run_max[h], quad_max(tile_max[h]));
    sum[h] *= factor[h];
  }
#pragma unroll
  for (int n = 0; n < kOwn / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      acc[n][i] *= factor[i >> 1];
    }
  }
#pragma unroll
  for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      s[n][i] = softmax_weight(s[n][i], run_max[i >> 1]);
      sum[i >> 1] += s[n][i];
    }
  }
}

// o = acc / sum (this warp's rows, columns [c0, c0 + kOwn)), and lse from the first column part.
template <typename T>
__device__ __forceinline__ void finish_forward(T* o, float* lse, int64_t q_row, int64_t c0,
                                               const float (&acc)[kOwn / 8][4],
                                               const float (&run_max)[2], float (&sum)[2],
                                               const AttentionArgs& a, int warp, int lane) {
  float inv[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    sum[h] = quad_sum(sum[h]);
    inv[h] = softmax_normalise(1.0f, sum[h]);
  }
  write_rows(o + q_row * a.dv, a.dv, c0, acc, inv, warp, lane);
  if (blockIdx.y == 0 && (lane & 3) == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      lse[q_row + warp * 16 + (lane >> 2) + h * 8] = softmax_lse(run_max[h], sum[h]);
    }
  }
}

// The forward's fast path, 16-bit values and d <= kFastD: k and v blocks double-buffered by
// cp.async (the next block loads while this one computes), fragments read by ldmatrix (v's
// transposed), and p handed from the score product's accumulators straight to the p.v
// product's A fragments in registers (the C and A layouts of m16n8k16 line up).
constexpr int kFastD = 64;
template <typename T, int BS>
struct FastForward {
  static constexpr int kLd = kFastD + 8; // rows padded by 16 bytes: no bank conflicts
  static constexpr int kTile = BS * kLd;
  static constexpr int kBytes = 5 * kTile * static_cast<int>(sizeof(T)); // q, 2 x k, 2 x v
};

template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

template <typename T, int BS>
__device__ __forceinline__ void forward_fast(unsigned char* raw, const T* q, const T* k,
                                             const T* v, const int32_t* row_ptr,
                                             const int32_t* col, const T* bias,
                                             const uint8_t* mask, T* o, float* lse,
                                             const AttentionArgs& a) {
  using F = FastForward<T, BS>;
  constexpr int kLd = F::kLd, kThreads = BS * 2, kV = 8; // 8 values per 16-byte chunk
  T* const qs = reinterpret_cast<T*>(raw);
  const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
  const BlockRow br = attention_block_row(blockIdx.x, a.batch);
  const int64_t R = br.b * (a.lq / BS) + br.i, c0 = int64_t(blockIdx.y) * kOwn;
  const int64_t q_row = br.b * a.lq + br.i * BS;
  const Range blocks = row_range(row_ptr, R, a.n_blocks); // clamped to [0, n_blocks]
  const bool aligned = aligned16(q) && aligned16(k) && aligned16(v);
  // rows of `src` (row stride ld) into dst, columns [c, c + kFastD) of width `cols`
  auto stage_rows = [&](T* dst, const T* src, int64_t ld, int64_t c, int64_t cols) {
    for (int x = tid; x < BS * (kFastD / kV); x += kThreads) {
      const int r = x / (kFastD / kV), cc = (x % (kFastD / kV)) * kV;
      const int64_t left = cols - (c + cc);
      const int n = left <= 0 ? 0 : (left < kV ? static_cast<int>(left) : kV);
      stage_chunk(dst + r * kLd + cc, src + r * ld + c + cc, n, aligned);
    }
  };
  stage_rows(qs, q + q_row * a.d, a.d, 0, a.d);
  auto load = [&](int64_t step, int stage) {
    const int64_t j = col[blocks.start + step];
    if (!in_range(j, a.lk / BS)) {
      return; // a bad block is skipped (compute checks it too)
    }
    const int64_t k_row = br.b * a.lk + j * BS;
    T* ks = qs + (1 + stage) * F::kTile;
    stage_rows(ks, k + k_row * a.d, a.d, 0, a.d);
    stage_rows(ks + 2 * F::kTile, v + k_row * a.dv, a.dv, c0, a.dv);
  };
  float acc[kOwn / 8][4];
  zero(acc);
  float run_max[2] = {MS_NEG_INF, MS_NEG_INF}, sum[2] = {0.0f, 0.0f};
  staged_loop<2>(blocks.end - blocks.start, load, [&](int64_t step, int stage) {
    const int64_t e = blocks.start + step;
    if (!in_range(col[e], a.lk / BS)) {
      return;
    }
    const T* ks = qs + (1 + stage) * F::kTile;
    const T* vs = ks + 2 * F::kTile;
    float s[BS / 8][4];
    zero(s);
#pragma unroll
    for (int kk = 0; kk < kFastD; kk += 16) {
      uint32_t af[4];
      ldmatrix_x4(af, qs + (warp * 16 + (lane & 15)) * kLd + kk + (lane >> 4) * 8);
#pragma unroll
      for (int np = 0; np < BS / 16; ++np) {
        uint32_t bf[4]; // k's rows are the product's columns: no transpose
        ldmatrix_x4(bf, ks + (np * 16 + (lane & 7) + (lane >> 4) * 8) * kLd + kk +
                            ((lane >> 3) & 1) * 8);
        mma_16816<T>(s[2 * np], af, bf[0], bf[1]);
        mma_16816<T>(s[2 * np + 1], af, bf[2], bf[3]);
      }
    }
    softmax_step<T, BS>(s, acc, run_max, sum, bias, mask, e, a, warp, lane);
#pragma unroll
    for (int j = 0; j < BS / 16; ++j) {
      // p's accumulators of n-tiles 2j and 2j + 1 are the A fragment of keys [16j, 16j + 16)
      const uint32_t pf[4] = {pack_pair<T>(s[2 * j][0], s[2 * j][1]),
                              pack_pair<T>(s[2 * j][2], s[2 * j][3]),
                              pack_pair<T>(s[2 * j + 1][0], s[2 * j + 1][1]),
                              pack_pair<T>(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int np = 0; np < kOwn / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (j * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kLd +
                                  np * 16 + (lane >> 4) * 8);
        mma_16816<T>(acc[2 * np], pf, bf[0], bf[1]);
        mma_16816<T>(acc[2 * np + 1], pf, bf[2], bf[3]);
      }
    }
  });
  cp_async_wait<0>(); // nothing left in flight at exit, even with no blocks
  finish_forward(o, lse, q_row, c0, acc, run_max, sum, a, warp, lane);
}

// Forward: o and lse of query block row blockIdx.x, o's columns [kOwn * blockIdx.y, +kOwn).
template <typename T, int BS>
__device__ void forward(const T* q, const T* k, const T* v, const int32_t* row_ptr,
                        const int32_t* col, const T* bias, const uint8_t* mask, T* o, float* lse,
                        const AttentionArgs& a) {
  constexpr int kFast = sizeof(T) == 2 ? FastForward<T, BS>::kBytes : 0;
  constexpr int kBytes = sizeof(Staging<T, BS>) > kFast ? sizeof(Staging<T, BS>) : kFast;
  __shared__ alignas(16) unsigned char raw[kBytes];
  if constexpr (sizeof(T) == 2) {
    if (a.d <= kFastD) {
      forward_fast<T, BS>(raw, q, k, v, row_ptr, col, bias, mask, o, lse, a);
      return;
    }
  }
  Staging<T, BS>& sm = *reinterpret_cast<Staging<T, BS>*>(raw);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const BlockRow br = attention_block_row(blockIdx.x, a.batch);
  const int64_t R = br.b * (a.lq / BS) + br.i, c0 = int64_t(blockIdx.y) * kOwn;
  const int64_t q_row = br.b * a.lq + br.i * BS;
  float s[BS / 8][4], acc[kOwn / 8][4];
  zero(acc);
  // q stays staged across the key blocks when one chunk holds it
  const bool q_resident = a.d <= kChunk<T>;
  if (q_resident) {
    stage<T, BS, false>(sm.a, q + q_row * a.d, a.d, 0, a.d);
  }
  float run_max[2] = {MS_NEG_INF, MS_NEG_INF}, sum[2] = {0.0f, 0.0f};
  const Range blocks = row_range(row_ptr, R, a.n_blocks); // clamped to [0, n_blocks]
  for (int64_t e = blocks.start; e < blocks.end; ++e) {
    if (!in_range(col[e], a.lk / BS)) { // a bad block is skipped
      continue;
    }
    const int64_t k_row = br.b * a.lk + int64_t(col[e]) * BS;
    tile_product<T, BS>(s, sm, q + q_row * a.d, k + k_row * a.d, a.d, warp, lane, q_resident);
    softmax_step<T, BS>(s, acc, run_max, sum, bias, mask, e, a, warp, lane);
    constexpr int ld = Staging<T, BS>::kTileLd;
#pragma unroll
    for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const Place at = place(warp, lane, n, i);
        sm.tile[at.row * ld + at.col] = from_float<T>(s[n][i]);
      }
    }
    __syncwarp(); // each warp reads back only its own rows of the tile
    tile_times<T, BS>(acc, sm, v + k_row * a.dv, a.dv, c0, warp, lane);
  }
  finish_forward(o, lse, q_row, c0, acc, run_max, sum, a, warp, lane);
}

// delta[r] = rowsum(dO * o)[r] - dlse[r], a warp per row.
template <typename T>
__device__ void delta_rows(const T* o, const T* d_o, const float* dlse, float* delta,
                           const AttentionArgs& a) {
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= a.batch * a.lq) {
    return;
  }
  float acc = 0.0f;
  for (int64_t c = lane; c < a.dv; c += kWarp) {
    acc += to_float(o[row * a.dv + c]) * to_float(d_o[row * a.dv + c]);
  }
  acc = group_sum(acc, kWarp);
  if (lane == 0) {
    delta[row] = acc - dlse[row];
  }
}

// dq (columns [kOwn * blockIdx.y, +kOwn)) of query block row blockIdx.x, and dbias of its
// blocks (blockIdx.y == 0).
template <typename T, int BS>
__device__ void grad_q(const T* q, const T* k, const T* v, const int32_t* row_ptr,
                       const int32_t* col, const T* bias, const uint8_t* mask, const float* lse,
                       const T* d_o, const float* delta, T* dq, T* dbias,
                       const AttentionArgs& a) {
  __shared__ Staging<T, BS> sm;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const BlockRow br = attention_block_row(blockIdx.x, a.batch);
  const int64_t R = br.b * (a.lq / BS) + br.i, c0 = int64_t(blockIdx.y) * kOwn;
  const int64_t q_row = br.b * a.lq + br.i * BS;
  float row_lse[2], row_delta[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t r = q_row + warp * 16 + (lane >> 2) + h * 8;
    row_lse[h] = lse[r];
    row_delta[h] = delta[r];
  }
  float s[BS / 8][4], dp[BS / 8][4], acc[kOwn / 8][4];
  zero(acc);
  constexpr int ld = Staging<T, BS>::kTileLd;
  const Range blocks = row_range(row_ptr, R, a.n_blocks); // clamped to [0, n_blocks]
  for (int64_t e = blocks.start; e < blocks.end; ++e) {
    if (!in_range(col[e], a.lk / BS)) { // a bad block is skipped: its dbias is 0
      for (int x = threadIdx.x; a.has_bias && blockIdx.y == 0 && x < BS * BS; x += BS * 2) {
        dbias[e * BS * BS + x] = from_float<T>(0.0f);
      }
      continue;
    }
    const int64_t k_row = br.b * a.lk + int64_t(col[e]) * BS;
    tile_product<T, BS>(s, sm, q + q_row * a.d, k + k_row * a.d, a.d, warp, lane);
    tile_product<T, BS>(dp, sm, d_o + q_row * a.dv, v + k_row * a.dv, a.dv, warp, lane);
#pragma unroll
    for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const Place at = place(warp, lane, n, i);
        const float p = attention_weight(
            score<T, BS>(s[n][i], bias, mask, e, at.row, at.col, a), row_lse[i >> 1]);
        const float ds = attention_dscore(p, dp[n][i], row_delta[i >> 1]);
        sm.tile[at.row * ld + at.col] = from_float<T>(ds);
        if (a.has_bias && blockIdx.y == 0) {
          dbias[attention_block_entry(e, BS, at.row, at.col)] = from_float<T>(ds);
        }
      }
    }
    __syncwarp();
    tile_times<T, BS>(acc, sm, k + k_row * a.d, a.d, c0, warp, lane);
  }
  const float f[2] = {a.scale, a.scale};
  write_rows(dq + q_row * a.d, a.d, c0, acc, f, warp, lane);
}

// dk and dv (columns [kOwn * blockIdx.y, +kOwn)) of key block column blockIdx.x, over the
// query blocks of that column (t_ptr, t_row, t_block): the transposed tile, keys as rows.
template <typename T, int BS>
__device__ void grad_kv(const T* q, const T* k, const T* v, const int32_t* t_ptr,
                        const int32_t* t_row, const int32_t* t_block, const T* bias,
                        const uint8_t* mask, const float* lse, const T* d_o,
                        const float* delta, T* dk, T* dv, const AttentionArgs& a) {
  __shared__ Staging<T, BS> sm;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const BlockRow bc = attention_block_row(blockIdx.x, a.batch);
  const int64_t C = bc.b * (a.lk / BS) + bc.i, c0 = int64_t(blockIdx.y) * kOwn;
  const int64_t k_row = bc.b * a.lk + bc.i * BS;
  float st[BS / 8][4], dpt[BS / 8][4], acc_k[kOwn / 8][4], acc_v[kOwn / 8][4];
  zero(acc_k);
  zero(acc_v);
  constexpr int ld = Staging<T, BS>::kTileLd;
  const Range blocks = row_range(t_ptr, C, a.n_blocks);
  for (int64_t x = blocks.start; x < blocks.end; ++x) {
    if (!in_range(t_row[x], a.lq / BS) || !in_range(t_block[x], a.n_blocks)) {
      continue; // a bad block is skipped
    }
    const int64_t e = t_block[x], q_row = bc.b * a.lq + int64_t(t_row[x]) * BS;
    tile_product<T, BS>(st, sm, k + k_row * a.d, q + q_row * a.d, a.d, warp, lane);
    tile_product<T, BS>(dpt, sm, v + k_row * a.dv, d_o + q_row * a.dv, a.dv, warp, lane);
#pragma unroll
    for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const Place at = place(warp, lane, n, i); // row: key, col: query
        st[n][i] = attention_weight(score<T, BS>(st[n][i], bias, mask, e, at.col, at.row, a),
                                    lse[q_row + at.col]);
        dpt[n][i] = attention_dscore(st[n][i], dpt[n][i], delta[q_row + at.col]);
        sm.tile[at.row * ld + at.col] = from_float<T>(st[n][i]);
      }
    }
    __syncwarp();
    tile_times<T, BS>(acc_v, sm, d_o + q_row * a.dv, a.dv, c0, warp, lane);
    __syncwarp(); // the warp's reads of p are done before ds replaces it
#pragma unroll
    for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const Place at = place(warp, lane, n, i);
        sm.tile[at.row * ld + at.col] = from_float<T>(dpt[n][i]);
      }
    }
    __syncwarp();
    tile_times<T, BS>(acc_k, sm, q + q_row * a.d, a.d, c0, warp, lane);
  }
  const float one[2] = {1.0f, 1.0f}, f[2] = {a.scale, a.scale};
  write_rows(dv + k_row * a.dv, a.dv, c0, acc_v, one, warp, lane);
  write_rows(dk + k_row * a.d, a.d, c0, acc_k, f, warp, lane);
}

} // namespace

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_FLASH_ATTENTION_BS(T, tn, BS)                                                       \
  extern "C" __global__ void __launch_bounds__(BS * 2)                                         \
      flash_attention_forward_bs##BS##_##tn##_int32(                                           \
          const T* q, const T* k, const T* v, const int32_t* row_ptr, const int32_t* col,      \
          const T* bias, const uint8_t* mask, T* o, float* lse, AttentionArgs a) {             \
    forward<T, BS>(q, k, v, row_ptr, col, bias, mask, o, lse, a);                              \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(BS * 2) flash_attention_dq_bs##BS##_##tn##_int32( \
      const T* q, const T* k, const T* v, const int32_t* row_ptr, const int32_t* col,          \
      const T* bias, const uint8_t* mask, const float* lse, const T* d_o, const float* delta,  \
      T* dq, T* dbias, AttentionArgs a) {                                                      \
    grad_q<T, BS>(q, k, v, row_ptr, col, bias, mask, lse, d_o, delta, dq, dbias, a);           \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(BS * 2)                                         \
      flash_attention_dkdv_bs##BS##_##tn##_int32(                                              \
          const T* q, const T* k, const T* v, const int32_t* t_ptr, const int32_t* t_row,      \
          const int32_t* t_block, const T* bias, const uint8_t* mask, const float* lse,        \
          const T* d_o, const float* delta, T* dk, T* dv, AttentionArgs a) {                   \
    grad_kv<T, BS>(q, k, v, t_ptr, t_row, t_block, bias, mask, lse, d_o, delta, dk, dv, a);    \
  }

#define MS_FLASH_ATTENTION(T, tn)                                                              \
  MS_FLASH_ATTENTION_BS(T, tn, 16)                                                             \
  MS_FLASH_ATTENTION_BS(T, tn, 32)                                                             \
  MS_FLASH_ATTENTION_BS(T, tn, 64)                                                             \
  extern "C" __global__ void flash_attention_delta_##tn(const T* o, const T* d_o,              \
                                                        const float* dlse, float* delta,       \
                                                        AttentionArgs a) {                     \
    delta_rows<T>(o, d_o, dlse, delta, a);                                                     \
  }

MS_FLASH_ATTENTION(float, float32)
MS_FLASH_ATTENTION(__half, float16)
MS_FLASH_ATTENTION(__nv_bfloat16, bfloat16)
