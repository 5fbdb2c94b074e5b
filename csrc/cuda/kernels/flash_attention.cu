// flash_attention on CUDA (contract: docs/developer/flash_attention.md). One thread block per
// query block row (forward, dq) or key block column (dk/dv), bs / 16 warps, each warp owning
// 16 rows of the (bs x bs) score tile in registers. Products run on tensor cores through
// mma.sync m16n8k16 (float16/bfloat16 in, float32 accumulation); float32 inputs take the
// same tiling with plain float32 FMAs per lane (no TF32 rounding). Reductions over d and dv
// stage kChunk columns of each operand in shared memory; a block writes kOwn output columns
// (grid.y covers wider heads, recomputing the scores). No atomics: each output element has
// one writer. Kernel names: flash_attention_<pass>_bs<bs>_<dtype>_int32.
#include <type_traits>

#include "common.cuh"
#include "gpu/core/flash_attention.h"

namespace mlx_sparse::gpu {

namespace {

constexpr int kChunk = 32; // reduction columns staged per step
constexpr int kOwn = 64;   // output columns per thread block

// Shared-memory rows padded by 16 bytes so that the lanes of a fragment load spread over banks.
template <typename T>
constexpr int padded(int cols) {
  return cols + 16 / static_cast<int>(sizeof(T));
}

// A shared-memory matrix read as an mma operand: element (r, k) of an (rows x reduction)
// operand; kTrans reads the stored matrix transposed.
template <typename T, bool kTrans>
struct Operand {
  const T* p;
  int ld;
  __device__ __forceinline__ T at(int r, int k) const {
    return kTrans ? p[k * ld + r] : p[r * ld + k];
  }
  // elements (r, k) and (r, k + 1), the first in the low half
  __device__ __forceinline__ uint32_t pair(int r, int k) const {
    if constexpr (!kTrans) {
      return *reinterpret_cast<const uint32_t*>(p + r * ld + k);
    } else {
      const T lo = at(r, k), hi = at(r, k + 1);
      return static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(&lo)) |
             (static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(&hi)) << 16);
    }
  }
};

// c (a 16 x 8 float tile in mma's C layout) += a[r0.., k0..k0+16) * b[n0.., k0..k0+16)^T.
template <typename T, typename A, typename B>
__device__ __forceinline__ void mma_k16(float (&c)[4], const A& a, int r0, const B& b, int n0,
                                        int k0, int lane) {
  const int g = lane >> 2, t2 = (lane & 3) * 2;
  if constexpr (sizeof(T) == 4) { // float32: this lane's four outputs by FMA
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = r0 + g + (i >> 1) * 8, n = n0 + t2 + (i & 1);
      float acc = c[i];
#pragma unroll
      for (int k = 0; k < 16; ++k) {
        acc = fmaf(to_float(a.at(r, k0 + k)), to_float(b.at(n, k0 + k)), acc);
      }
      c[i] = acc;
    }
  } else {
    const uint32_t a0 = a.pair(r0 + g, k0 + t2), a1 = a.pair(r0 + g + 8, k0 + t2),
                   a2 = a.pair(r0 + g, k0 + t2 + 8), a3 = a.pair(r0 + g + 8, k0 + t2 + 8);
    const uint32_t b0 = b.pair(n0 + g, k0 + t2), b1 = b.pair(n0 + g, k0 + t2 + 8);
    if constexpr (std::is_same_v<T, __half>) {
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    } else {
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};\n"
          : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  }
}

// Shared memory of every pass: two staged operand chunks and one (bs x bs) tile (p or ds).
template <typename T, int BS>
struct alignas(16) Staging {
  static constexpr int kLd = padded<T>(kChunk), kTileLd = padded<T>(BS);
  T a[BS * kLd];
  T b[BS * kLd];
  T tile[BS * kTileLd];
};

// dst[r][c] = src[r * ld + c0 + c] for the BS rows and kChunk columns, 0 past column `cols`.
template <typename T, int BS>
__device__ __forceinline__ void stage(T* dst, const T* src, int64_t ld, int64_t c0,
                                      int64_t cols) {
  constexpr int kLd = Staging<T, BS>::kLd;
  for (int x = threadIdx.x; x < BS * kChunk; x += BS * 2) {
    const int r = x / kChunk, c = x % kChunk;
    dst[r * kLd + c] = c0 + c < cols ? src[r * ld + c0 + c] : from_float<T>(0.0f);
  }
}

// acc[BS/8] (this warp's 16 rows x BS columns) = x[16 rows] . y[BS rows]^T over `depth`
// columns, both read from global memory with row stride `depth`.
template <typename T, int BS>
__device__ __forceinline__ void tile_product(float (&acc)[BS / 8][4], Staging<T, BS>& sm,
                                             const T* x, const T* y, int64_t depth, int warp,
                                             int lane) {
#pragma unroll
  for (int n = 0; n < BS / 8; ++n) {
    acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  }
  const Operand<T, false> a{sm.a, Staging<T, BS>::kLd}, b{sm.b, Staging<T, BS>::kLd};
  for (int64_t c0 = 0; c0 < depth; c0 += kChunk) {
    __syncthreads();
    stage<T, BS>(sm.a, x, depth, c0, depth);
    stage<T, BS>(sm.b, y, depth, c0, depth);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kChunk; k += 16) {
#pragma unroll
      for (int n = 0; n < BS / 8; ++n) {
        mma_k16<T>(acc[n], a, warp * 16, b, n * 8, k, lane);
      }
    }
  }
}

// acc[kOwn/8] += tile[16 rows of this warp][BS] . y[BS rows][c0 .. c0 + kOwn) (y's row stride
// `width`, columns past `width` read as 0).
template <typename T, int BS>
__device__ __forceinline__ void tile_times(float (&acc)[kOwn / 8][4], Staging<T, BS>& sm,
                                           const T* y, int64_t width, int64_t c0, int warp,
                                           int lane) {
  const Operand<T, false> a{sm.tile, Staging<T, BS>::kTileLd};
  const Operand<T, true> b{sm.b, Staging<T, BS>::kLd};
#pragma unroll
  for (int part = 0; part < kOwn / kChunk; ++part) {
    __syncthreads();
    stage<T, BS>(sm.b, y, width, c0 + part * kChunk, width);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BS; k += 16) {
#pragma unroll
      for (int n = 0; n < kChunk / 8; ++n) {
        mma_k16<T>(acc[part * (kChunk / 8) + n], a, warp * 16, b, n * 8, k, lane);
      }
    }
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

// Forward: o and lse of query block row blockIdx.x, o's columns [kOwn * blockIdx.y, +kOwn).
template <typename T, int BS>
__device__ void forward(const T* q, const T* k, const T* v, const int32_t* row_ptr,
                        const int32_t* col, const T* bias, const uint8_t* mask, T* o, float* lse,
                        const AttentionArgs& a) {
  __shared__ Staging<T, BS> sm;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t R = blockIdx.x, c0 = int64_t(blockIdx.y) * kOwn;
  const BlockRow br = attention_block_row(R, a.lq / BS);
  const int64_t q_row = br.b * a.lq + br.i * BS;
  float s[BS / 8][4], acc[kOwn / 8][4];
  zero(acc);
  float run_max[2] = {MS_NEG_INF, MS_NEG_INF}, sum[2] = {0.0f, 0.0f};
  for (int64_t e = row_ptr[R]; e < row_ptr[R + 1]; ++e) {
    const int64_t k_row = br.b * a.lk + int64_t(col[e]) * BS;
    tile_product<T, BS>(s, sm, q + q_row * a.d, k + k_row * a.d, a.d, warp, lane);
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
    constexpr int ld = Staging<T, BS>::kTileLd;
#pragma unroll
    for (int n = 0; n < BS / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const Place at = place(warp, lane, n, i);
        const float p = softmax_weight(s[n][i], run_max[i >> 1]);
        sum[i >> 1] += p;
        sm.tile[at.row * ld + at.col] = from_float<T>(p);
      }
    }
    __syncwarp(); // each warp reads back only its own rows of the tile
    tile_times<T, BS>(acc, sm, v + k_row * a.dv, a.dv, c0, warp, lane);
  }
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
  const int64_t R = blockIdx.x, c0 = int64_t(blockIdx.y) * kOwn;
  const BlockRow br = attention_block_row(R, a.lq / BS);
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
  for (int64_t e = row_ptr[R]; e < row_ptr[R + 1]; ++e) {
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
  const int64_t C = blockIdx.x, c0 = int64_t(blockIdx.y) * kOwn;
  const BlockRow bc = attention_block_row(C, a.lk / BS);
  const int64_t k_row = bc.b * a.lk + bc.i * BS;
  float st[BS / 8][4], dpt[BS / 8][4], acc_k[kOwn / 8][4], acc_v[kOwn / 8][4];
  zero(acc_k);
  zero(acc_v);
  constexpr int ld = Staging<T, BS>::kTileLd;
  for (int64_t x = t_ptr[C]; x < t_ptr[C + 1]; ++x) {
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
