// flash_attention on Metal (contract: docs/developer/flash_attention.md), launched as
// csrc/cuda/kernels/flash_attention.cu is (csrc/gpu/flash_attention_gpu.cpp): one threadgroup
// per query block row (forward, dq) or key block column (dk/dv) and kFaOwn output columns
// (grid.y), bs / 16 SIMD groups of 32 lanes, each owning 16 rows of the (bs x bs) tile; delta
// a SIMD group per row. Products run on simdgroup_matrix (8 x 8) in float: operands are staged in
// threadgroup memory as float (half and bfloat16 too), which keeps one code path and
// float32's precision. Fragments are read and written through thread_elements() at the
// layout MLX's steel kernels use. The scores of a block go through threadgroup memory for the
// online softmax (gpu/core/flash_attention.h), two lanes per row.
#include "common.h"
#include "gpu/core/flash_attention.h"
#include "mma.h"

namespace mlx_sparse::gpu {

constant constexpr int kFaChunk = 16; // columns of q and k staged per step
constant constexpr int kFaOwn = 64;   // columns of o per threadgroup (grid.y covers the rest)
constant constexpr int kFaPart = 32;  // columns of v staged per step

// A SIMD group's 16 rows x 8N columns, as 2 x N fragments.
template <int N>
struct Frags {
  Frag f[2][N];
};

template <int N>
inline void zero(thread Frags<N>& a) {
  for (int r = 0; r < 2; ++r) {
    for (int n = 0; n < N; ++n) {
      a.f[r][n] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
}

// s = x[this SIMD group's 16 of BS rows] . y[BS rows]^T over `depth` columns (both with row
// stride `depth`), staging kFaChunk columns of each at a time. Starts with a threadgroup
// barrier, so `stage` may still be in use when it is called.
template <typename T, int BS>
inline void tile_product(thread Frags<BS / 8>& s, threadgroup float* stage, device const T* x,
                         device const T* y, int64_t depth, uint tid, uint simd, uint lane) {
  zero(s);
  const int w0 = int(simd) * 16;
  for (int64_t d0 = 0; d0 < depth; d0 += kFaChunk) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    stage_rows(stage, x, depth, d0, depth, BS, kFaChunk, tid, BS * 2);
    stage_rows(stage + BS * kFaChunk, y, depth, d0, depth, BS, kFaChunk, tid, BS * 2);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < kFaChunk; kk += 8) {
      const Frag xa = frag_load(stage, kFaChunk, w0, kk, lane);
      const Frag xb = frag_load(stage, kFaChunk, w0 + 8, kk, lane);
      for (int n = 0; n < BS / 8; ++n) {
        const Frag yt = frag_load_t(stage + BS * kFaChunk, kFaChunk, kk, n * 8, lane);
        simdgroup_multiply_accumulate(s.f[0][n], xa, yt, s.f[0][n]);
        simdgroup_multiply_accumulate(s.f[1][n], xb, yt, s.f[1][n]);
      }
    }
  }
}

// acc += tile[this SIMD group's 16 rows][BS] . y[BS rows][c0 .. c0 + kFaOwn) (y's row stride
// `width`; columns past it are 0), staging kFaPart columns of y at a time.
template <typename T, int BS>
inline void tile_times(thread Frags<kFaOwn / 8>& acc, threadgroup const float* tile,
                       threadgroup float* stage, device const T* y, int64_t width, int64_t c0,
                       uint tid, uint simd, uint lane) {
  const int w0 = int(simd) * 16;
  for (int part = 0; part < kFaOwn && c0 + part < width; part += kFaPart) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    stage_rows(stage, y, width, c0 + part, width, BS, kFaPart, tid, BS * 2);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < BS; kk += 8) {
      const Frag ta = frag_load(tile, BS, w0, kk, lane);
      const Frag tb = frag_load(tile, BS, w0 + 8, kk, lane);
      for (int n = 0; n < kFaPart / 8; ++n) {
        const Frag yf = frag_load(stage, kFaPart, kk, n * 8, lane);
        simdgroup_multiply_accumulate(acc.f[0][part / 8 + n], ta, yf, acc.f[0][part / 8 + n]);
        simdgroup_multiply_accumulate(acc.f[1][part / 8 + n], tb, yf, acc.f[1][part / 8 + n]);
      }
    }
  }
}

// The tile row and column of element t of fragment (r, n) in this lane.
inline int frags_row(int r, uint simd, uint lane) {
  return int(simd) * 16 + r * 8 + frag_row(lane);
}
inline int frags_col(int n, int t, uint lane) {
  return n * 8 + frag_col(lane) + t;
}

// Writes s into the tile (each element by the lane that holds it).
template <int N>
inline void store_frags(threadgroup float* tile, thread const Frags<N>& s, uint simd, uint lane) {
  for (int r = 0; r < 2; ++r) {
    for (int n = 0; n < N; ++n) {
      for (int t = 0; t < 2; ++t) {
        tile[frags_row(r, simd, lane) * (8 * N) + frags_col(n, t, lane)] = s.f[r][n].thread_elements()[t];
      }
    }
  }
}

// Block e's bias and mask at (row, col) of its stored (bs x bs) tile, as one score.
template <typename T, int BS>
inline float block_score(float dot, device const T* bias, device const uint8_t* mask, int64_t e,
                         int row, int col, constant AttentionArgs& a) {
  const int64_t at = attention_block_entry(e, BS, row, col);
  return attention_score(dot, a.scale, a.has_bias ? to_float(bias[at]) : 0.0f,
                         a.has_mask != 0 && mask[at] != 0);
}

// out[row][c0 + c] = acc * f for this SIMD group's 16 rows (row stride `width`): f = scale, or
// 1 / sums[row] (0 for a row that summed to 0) when `sums` is given.
template <typename T>
inline void write_frags(device T* out, int64_t width, int64_t c0,
                        thread const Frags<kFaOwn / 8>& acc, float scale,
                        threadgroup const float* sums, uint simd, uint lane) {
  for (int r = 0; r < 2; ++r) {
    const int row = frags_row(r, simd, lane);
    const float f = sums != nullptr ? softmax_normalise(1.0f, sums[row]) : scale;
    for (int n = 0; n < kFaOwn / 8; ++n) {
      for (int t = 0; t < 2; ++t) {
        const int64_t c = c0 + frags_col(n, t, lane);
        if (c < width) {
          out[row * width + c] = from_float<T>(acc.f[r][n].thread_elements()[t] * f);
        }
      }
    }
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
  threadgroup float stage[BS * 2 * kFaChunk]; // columns of two operands, or of one (kFaPart)
  threadgroup float scores[BS * BS];          // a block's scores, then its weights p
  threadgroup float rows[BS];                 // a per-row factor handed to the fragments' lanes
  const BlockRow br = attention_block_row(group.x, a.batch);
  const int64_t R = br.b * (a.lq / BS) + br.i, c0 = int64_t(group.y) * kFaOwn;
  const int64_t q0 = br.b * a.lq + br.i * BS; // first query row (of B * Lq)
  const int my_row = int(simd) * 16 + int(lane / 2), half_ = int(lane % 2); // softmax lane pair
  float run_max = MS_NEG_INF, run_sum = 0.0f;
  Frags<kFaOwn / 8> acc;
  zero(acc);
  Frags<BS / 8> s;
  const Range blocks = row_range(row_ptr, R, a.n_blocks); // clamped to [0, n_blocks]
  for (int64_t e = blocks.start; e < blocks.end; ++e) {
    if (!in_range(col[e], a.lk / BS)) { // the host checks columns; a bad block adds nothing
      continue;
    }
    const int64_t k0 = br.b * a.lk + int64_t(col[e]) * BS; // first key row
    tile_product<T, BS>(s, stage, q + q0 * a.d, k + k0 * a.d, a.d, tid, simd, lane);
    store_frags(scores, s, simd, lane);
    simdgroup_barrier(mem_flags::mem_threadgroup);
    // the online softmax of row my_row, half the columns per lane
    threadgroup float* row = scores + my_row * BS;
    float tile_max = MS_NEG_INF;
    for (int c = half_ * (BS / 2); c < (half_ + 1) * (BS / 2); ++c) {
      row[c] = block_score<T, BS>(row[c], bias, mask, e, my_row, c, a);
      tile_max = max(tile_max, row[c]);
    }
    tile_max = max(tile_max, simd_shuffle_xor(tile_max, ushort(1)));
    const float factor = online_softmax_rescale(run_max, tile_max);
    float sum = 0.0f;
    for (int c = half_ * (BS / 2); c < (half_ + 1) * (BS / 2); ++c) {
      row[c] = softmax_weight(row[c], run_max);
      sum += row[c];
    }
    run_sum = run_sum * factor + sum + simd_shuffle_xor(sum, ushort(1));
    if (half_ == 0) {
      rows[my_row] = factor;
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    for (int r = 0; r < 2; ++r) {
      const float f = rows[frags_row(r, simd, lane)];
      for (int n = 0; n < kFaOwn / 8; ++n) {
        acc.f[r][n].thread_elements()[0] *= f;
        acc.f[r][n].thread_elements()[1] *= f;
      }
    }
    tile_times<T, BS>(acc, scores, stage, v + k0 * a.dv, a.dv, c0, tid, simd, lane);
  }
  if (half_ == 0) {
    rows[my_row] = run_sum;
    if (group.y == 0) {
      lse[q0 + my_row] = softmax_lse(run_max, run_sum);
    }
  }
  simdgroup_barrier(mem_flags::mem_threadgroup);
  write_frags(o + q0 * a.dv, a.dv, c0, acc, 1.0f, rows, simd, lane);
}

// delta[r] = rowsum(dO * o)[r] - dlse[r], a SIMD group per row.
template <typename T>
[[kernel]] void flash_attention_delta(
    device const T* o [[buffer(0)]], device const T* d_o [[buffer(1)]],
    device const float* dlse [[buffer(2)]], device float* delta [[buffer(3)]],
    constant AttentionArgs& a [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  if (row >= a.batch * a.lq) { // whole SIMD groups leave together
    return;
  }
  float acc = 0.0f;
  for (int64_t c = lane; c < a.dv; c += kSimd) {
    acc += to_float(o[row * a.dv + c]) * to_float(d_o[row * a.dv + c]);
  }
  acc = group_sum(acc, kSimd);
  if (lane == 0) {
    delta[row] = acc - dlse[row];
  }
}

// dq (columns [kFaOwn * group.y, + kFaOwn)) of query block row group.x, and dbias of its
// blocks (group.y == 0): ds = p (dp - delta) replaces the scores in the tile, then dq += ds k.
template <typename T, int BS>
[[kernel]] void flash_attention_dq(
    device const T* q [[buffer(0)]], device const T* k [[buffer(1)]],
    device const T* v [[buffer(2)]], device const int* row_ptr [[buffer(3)]],
    device const int* col [[buffer(4)]], device const T* bias [[buffer(5)]],
    device const uint8_t* mask [[buffer(6)]], device const float* lse [[buffer(7)]],
    device const T* d_o [[buffer(8)]], device const float* delta [[buffer(9)]],
    device T* dq [[buffer(10)]], device T* dbias [[buffer(11)]],
    constant AttentionArgs& a [[buffer(12)]], uint3 group [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float stage[BS * 2 * kFaChunk];
  threadgroup float scores[BS * BS];
  const BlockRow br = attention_block_row(group.x, a.batch);
  const int64_t R = br.b * (a.lq / BS) + br.i, c0 = int64_t(group.y) * kFaOwn;
  const int64_t q0 = br.b * a.lq + br.i * BS;
  Frags<kFaOwn / 8> acc;
  zero(acc);
  Frags<BS / 8> s;
  const Range blocks = row_range(row_ptr, R, a.n_blocks);
  for (int64_t e = blocks.start; e < blocks.end; ++e) {
    if (!in_range(col[e], a.lk / BS)) { // a bad block is skipped: its dbias is 0
      for (uint x = tid; a.has_bias && group.y == 0 && x < uint(BS * BS); x += BS * 2) {
        dbias[e * BS * BS + x] = from_float<T>(0.0f);
      }
      continue;
    }
    const int64_t k0 = br.b * a.lk + int64_t(col[e]) * BS;
    tile_product<T, BS>(s, stage, q + q0 * a.d, k + k0 * a.d, a.d, tid, simd, lane);
    store_frags(scores, s, simd, lane);
    tile_product<T, BS>(s, stage, d_o + q0 * a.dv, v + k0 * a.dv, a.dv, tid, simd, lane); // dp
    for (int r = 0; r < 2; ++r) {
      const int row = frags_row(r, simd, lane);
      for (int n = 0; n < BS / 8; ++n) {
        for (int t = 0; t < 2; ++t) {
          const int c = frags_col(n, t, lane);
          const float p = attention_weight(
              block_score<T, BS>(scores[row * BS + c], bias, mask, e, row, c, a), lse[q0 + row]);
          const float ds = attention_dscore(p, s.f[r][n].thread_elements()[t], delta[q0 + row]);
          scores[row * BS + c] = ds;
          if (a.has_bias && group.y == 0) {
            dbias[attention_block_entry(e, BS, row, c)] = from_float<T>(ds);
          }
        }
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    tile_times<T, BS>(acc, scores, stage, k + k0 * a.d, a.d, c0, tid, simd, lane);
  }
  write_frags(dq + q0 * a.d, a.d, c0, acc, a.scale, nullptr, simd, lane);
}

// dk and dv (columns [kFaOwn * group.y, + kFaOwn)) of key block column group.x over the query
// blocks of that column (t_ptr, t_row, t_block): the transposed tile, keys as rows. p^T fills
// the tile for dv += p^T dO, then ds^T replaces it for dk += scale ds^T q.
template <typename T, int BS>
[[kernel]] void flash_attention_dkdv(
    device const T* q [[buffer(0)]], device const T* k [[buffer(1)]],
    device const T* v [[buffer(2)]], device const int* t_ptr [[buffer(3)]],
    device const int* t_row [[buffer(4)]], device const int* t_block [[buffer(5)]],
    device const T* bias [[buffer(6)]], device const uint8_t* mask [[buffer(7)]],
    device const float* lse [[buffer(8)]], device const T* d_o [[buffer(9)]],
    device const float* delta [[buffer(10)]], device T* dk [[buffer(11)]],
    device T* dv [[buffer(12)]], constant AttentionArgs& a [[buffer(13)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float stage[BS * 2 * kFaChunk];
  threadgroup float scores[BS * BS];
  const BlockRow bc = attention_block_row(group.x, a.batch);
  const int64_t C = bc.b * (a.lk / BS) + bc.i, c0 = int64_t(group.y) * kFaOwn;
  const int64_t k0 = bc.b * a.lk + bc.i * BS; // first key row
  Frags<kFaOwn / 8> acc_k, acc_v;
  zero(acc_k);
  zero(acc_v);
  Frags<BS / 8> s;
  const Range blocks = row_range(t_ptr, C, a.n_blocks);
  for (int64_t x = blocks.start; x < blocks.end; ++x) {
    if (!in_range(t_row[x], a.lq / BS) || !in_range(t_block[x], a.n_blocks)) {
      continue;
    }
    const int64_t e = t_block[x], i = t_row[x];
    const int64_t q0 = bc.b * a.lq + i * BS;
    tile_product<T, BS>(s, stage, k + k0 * a.d, q + q0 * a.d, a.d, tid, simd, lane);
    for (int r = 0; r < 2; ++r) {
      const int key = frags_row(r, simd, lane);
      for (int n = 0; n < BS / 8; ++n) {
        for (int t = 0; t < 2; ++t) {
          const int qc = frags_col(n, t, lane);
          scores[key * BS + qc] = attention_weight(
              block_score<T, BS>(s.f[r][n].thread_elements()[t], bias, mask, e, qc, key, a),
              lse[q0 + qc]);
        }
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    tile_times<T, BS>(acc_v, scores, stage, d_o + q0 * a.dv, a.dv, c0, tid, simd, lane);
    tile_product<T, BS>(s, stage, v + k0 * a.dv, d_o + q0 * a.dv, a.dv, tid, simd, lane); // dp^T
    for (int r = 0; r < 2; ++r) {
      const int key = frags_row(r, simd, lane);
      for (int n = 0; n < BS / 8; ++n) {
        for (int t = 0; t < 2; ++t) {
          const int qc = frags_col(n, t, lane);
          scores[key * BS + qc] = attention_dscore(scores[key * BS + qc],
                                                   s.f[r][n].thread_elements()[t], delta[q0 + qc]);
        }
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    tile_times<T, BS>(acc_k, scores, stage, q + q0 * a.d, a.d, c0, tid, simd, lane);
  }
  write_frags(dv + k0 * a.dv, a.dv, c0, acc_v, 1.0f, nullptr, simd, lane);
  write_frags(dk + k0 * a.d, a.d, c0, acc_k, a.scale, nullptr, simd, lane);
}

#define MS_FA_BS(T, tn, BS)                                                                \
  instantiate_kernel("flash_attention_forward_bs" #BS "_" #tn "_int32",                    \
                     flash_attention_forward, T, BS)                                       \
  instantiate_kernel("flash_attention_dq_bs" #BS "_" #tn "_int32", flash_attention_dq, T, BS) \
  instantiate_kernel("flash_attention_dkdv_bs" #BS "_" #tn "_int32", flash_attention_dkdv, T, BS)
#define MS_FA(T, tn)                                                          \
  MS_FA_BS(T, tn, 16) MS_FA_BS(T, tn, 32) MS_FA_BS(T, tn, 64)                 \
  instantiate_kernel("flash_attention_delta_" #tn, flash_attention_delta, T)
MS_FA(float, float32)
MS_FA(half, float16)
MS_FA(bfloat16_t, bfloat16)
