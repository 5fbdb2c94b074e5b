// flash_attention on Metal (contract: docs/developer/flash_attention.md), the forward pass as
// csrc/cuda/kernels/flash_attention.cu launches it: one threadgroup per query block row
// (grid.x) and kOwn columns of o (grid.y), bs / 16 SIMD groups of 32 lanes, each owning 16
// query rows. Products run on simdgroup_matrix (8 x 8) in float: operands are staged in
// threadgroup memory as float (half and bfloat16 too), which keeps one code path and
// float32's precision. Fragments are read and written through thread_elements() at the
// layout MLX's steel kernels use. The scores of a block go through threadgroup memory for the
// online softmax (gpu/core/flash_attention.h), two lanes per row.
#include <metal_simdgroup_matrix>

#include "common.h"
#include "gpu/core/flash_attention.h"

namespace mlx_sparse::gpu {

constant constexpr int kFaChunk = 16; // columns of q and k staged per step
constant constexpr int kFaOwn = 64;   // columns of o per threadgroup (grid.y covers the rest)
constant constexpr int kFaPart = 32;  // columns of v staged per step

using Frag = simdgroup_matrix<float, 8, 8>;

// This lane's place in an 8 x 8 fragment: row, and the first of its two columns.
inline int frag_row(uint lane) {
  return int(((lane / 4) & 4) + (lane / 2) % 4);
}
inline int frag_col(uint lane) {
  return int(((lane / 4) & 2) * 2 + (lane % 2) * 2);
}

// The fragment at (row0, col0) of a row-major threadgroup matrix with `ld` columns.
inline Frag frag_load(threadgroup const float* m, int ld, int row0, int col0, uint lane) {
  Frag f;
  const int at = (row0 + frag_row(lane)) * ld + col0 + frag_col(lane);
  f.thread_elements()[0] = m[at];
  f.thread_elements()[1] = m[at + 1];
  return f;
}

// The same, of the matrix's transpose: element (r, c) is m[(col0 + c) * ld + row0 + r].
inline Frag frag_load_t(threadgroup const float* m, int ld, int row0, int col0, uint lane) {
  Frag f;
  const int at = (col0 + frag_col(lane)) * ld + row0 + frag_row(lane);
  f.thread_elements()[0] = m[at];
  f.thread_elements()[1] = m[at + ld];
  return f;
}

// dst[r][c] = src[r * ld + c0 + c] as float for `rows` rows and `cols` columns, 0 past `width`.
template <typename T>
inline void stage_rows(threadgroup float* dst, device const T* src, int64_t ld, int64_t c0,
                       int64_t width, int rows, int cols, uint tid, uint threads) {
  for (uint x = tid; x < uint(rows * cols); x += threads) {
    const int r = int(x) / cols, c = int(x) % cols;
    dst[x] = c0 + c < width ? to_float(src[r * ld + c0 + c]) : 0.0f;
  }
}

} // namespace mlx_sparse::gpu

// o and lse of query block row group.x (o's columns [kFaOwn * group.y, + kFaOwn)).
template <typename T, int BS>
[[kernel]] void flash_attention_forward(
    device const T* q [[buffer(0)]], device const T* k [[buffer(1)]],
    device const T* v [[buffer(2)]], device const int* row_ptr [[buffer(3)]],
    device const int* col [[buffer(4)]], device const T* bias [[buffer(5)]],
    device const uint8_t* mask [[buffer(6)]], device T* o [[buffer(7)]],
    device float* lse [[buffer(8)]], constant AttentionArgs& a [[buffer(9)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  constexpr int kThreads = BS * 2;
  threadgroup float stage[BS * 2 * kFaChunk]; // q and k columns, or v columns (BS x kFaPart)
  threadgroup float scores[BS * BS];          // a block's scores, then its weights p
  threadgroup float rows[BS];                 // a per-row factor handed to the fragments' lanes
  const int64_t R = group.x, c0 = int64_t(group.y) * kFaOwn;
  const BlockRow br = attention_block_row(R, a.lq / BS);
  const int64_t q0 = br.b * a.lq + br.i * BS; // first query row (of B * Lq)
  const int w0 = int(simd) * 16;              // this SIMD group's first row
  const int my_row = w0 + int(lane / 2), half_ = int(lane % 2); // the softmax's lane pair
  const int fr = frag_row(lane), fc = frag_col(lane);
  float run_max = MS_NEG_INF, run_sum = 0.0f;
  Frag acc[2][kFaOwn / 8];
  for (int r = 0; r < 2; ++r) {
    for (int n = 0; n < kFaOwn / 8; ++n) {
      acc[r][n] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
  const int e_end = row_ptr[R + 1];
  for (int e = row_ptr[R]; e < e_end; ++e) {
    const int64_t j = col[e];
    if (j < 0 || j >= a.lk / BS) { // the host checks columns; bad data adds nothing
      continue;
    }
    const int64_t k0 = br.b * a.lk + j * BS; // first key row
    // s = q_block . k_block^T (this SIMD group's 16 rows x BS)
    Frag s[2][BS / 8];
    for (int r = 0; r < 2; ++r) {
      for (int n = 0; n < BS / 8; ++n) {
        s[r][n] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
      }
    }
    for (int64_t d0 = 0; d0 < a.d; d0 += kFaChunk) {
      threadgroup_barrier(mem_flags::mem_threadgroup);
      stage_rows(stage, q + q0 * a.d, a.d, d0, a.d, BS, kFaChunk, tid, kThreads);
      stage_rows(stage + BS * kFaChunk, k + k0 * a.d, a.d, d0, a.d, BS, kFaChunk, tid, kThreads);
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (int kk = 0; kk < kFaChunk; kk += 8) {
        const Frag qa = frag_load(stage, kFaChunk, w0, kk, lane);
        const Frag qb = frag_load(stage, kFaChunk, w0 + 8, kk, lane);
        for (int n = 0; n < BS / 8; ++n) {
          const Frag kt = frag_load_t(stage + BS * kFaChunk, kFaChunk, kk, n * 8, lane);
          simdgroup_multiply_accumulate(s[0][n], qa, kt, s[0][n]);
          simdgroup_multiply_accumulate(s[1][n], qb, kt, s[1][n]);
        }
      }
    }
    for (int r = 0; r < 2; ++r) {
      for (int n = 0; n < BS / 8; ++n) {
        const int at = (w0 + r * 8 + fr) * BS + n * 8 + fc;
        scores[at] = s[r][n].thread_elements()[0];
        scores[at + 1] = s[r][n].thread_elements()[1];
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    // the online softmax of row my_row, half the columns per lane
    threadgroup float* row = scores + my_row * BS;
    float tile_max = MS_NEG_INF;
    for (int c = half_ * (BS / 2); c < (half_ + 1) * (BS / 2); ++c) {
      const int64_t at = attention_block_entry(e, BS, my_row, c);
      const float sc = attention_score(row[c], a.scale, a.has_bias ? to_float(bias[at]) : 0.0f,
                                       a.has_mask != 0 && mask[at] != 0);
      row[c] = sc;
      tile_max = max(tile_max, sc);
    }
    tile_max = max(tile_max, simd_shuffle_xor(tile_max, ushort(1)));
    const float factor = online_softmax_rescale(run_max, tile_max);
    float sum = 0.0f;
    for (int c = half_ * (BS / 2); c < (half_ + 1) * (BS / 2); ++c) {
      const float p = softmax_weight(row[c], run_max);
      row[c] = p;
      sum += p;
    }
    run_sum = run_sum * factor + sum + simd_shuffle_xor(sum, ushort(1));
    if (half_ == 0) {
      rows[my_row] = factor;
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    for (int r = 0; r < 2; ++r) {
      const float f = rows[w0 + r * 8 + fr];
      for (int n = 0; n < kFaOwn / 8; ++n) {
        acc[r][n].thread_elements()[0] *= f;
        acc[r][n].thread_elements()[1] *= f;
      }
    }
    // acc += p . v[k rows, c0 + part ..]
    for (int part = 0; part < kFaOwn && c0 + part < a.dv; part += kFaPart) {
      threadgroup_barrier(mem_flags::mem_threadgroup);
      stage_rows(stage, v + k0 * a.dv, a.dv, c0 + part, a.dv, BS, kFaPart, tid, kThreads);
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (int kk = 0; kk < BS; kk += 8) {
        const Frag pa = frag_load(scores, BS, w0, kk, lane);
        const Frag pb = frag_load(scores, BS, w0 + 8, kk, lane);
        for (int n = 0; n < kFaPart / 8; ++n) {
          const Frag vf = frag_load(stage, kFaPart, kk, n * 8, lane);
          simdgroup_multiply_accumulate(acc[0][part / 8 + n], pa, vf, acc[0][part / 8 + n]);
          simdgroup_multiply_accumulate(acc[1][part / 8 + n], pb, vf, acc[1][part / 8 + n]);
        }
      }
    }
  }
  if (half_ == 0) {
    rows[my_row] = run_sum;
    if (group.y == 0) {
      lse[q0 + my_row] = softmax_lse(run_max, run_sum);
    }
  }
  simdgroup_barrier(mem_flags::mem_threadgroup);
  for (int r = 0; r < 2; ++r) {
    const int64_t out_row = q0 + w0 + r * 8 + fr;
    const float total = rows[w0 + r * 8 + fr];
    for (int n = 0; n < kFaOwn / 8; ++n) {
      for (int t = 0; t < 2; ++t) {
        const int64_t c = c0 + n * 8 + fc + t;
        if (c < a.dv) {
          o[out_row * a.dv + c] = from_float<T>(softmax_normalise(acc[r][n].thread_elements()[t], total));
        }
      }
    }
  }
}

#define MS_FA_FORWARD(T, tn, BS) \
  instantiate_kernel("flash_attention_forward_bs" #BS "_" #tn "_int32", flash_attention_forward, T, BS)
#define MS_FA_FORWARD_BS(T, tn) MS_FA_FORWARD(T, tn, 16) MS_FA_FORWARD(T, tn, 32) MS_FA_FORWARD(T, tn, 64)
MS_FA_FORWARD_BS(float, float32)
MS_FA_FORWARD_BS(half, float16)
MS_FA_FORWARD_BS(bfloat16_t, bfloat16)
