// bsr_sddmm on Metal (contract: gpu/core/bsr.h), launched as csrc/cuda/kernels/bsr_sddmm.cu is
// (csrc/gpu/bsr_sddmm_gpu.cpp). Tiled kernels for square blocks of 16, 32 and 64: a threadgroup
// owns one output block G_i @ B_j^T; its 4 SIMD groups split it 2 x 2, each (bs / 2)^2 as
// simdgroup_matrix fragments, and walk k in chunks of both operands staged in threadgroup
// memory as float. Other block shapes: one thread per output value (bsr_sddmm_element).
#include "common.h"
#include "gpu/core/bsr.h"
#include "mma.h"

namespace mlx_sparse::gpu {

constant constexpr int kBsrSddmmChunk = 32; // columns of k staged per step: 16 KB at bs 64

} // namespace mlx_sparse::gpu

template <typename T, typename I, int BS>
[[kernel]] void bsr_sddmm_tiled(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* G [[buffer(2)]], device const T* B [[buffer(3)]],
    device T* out [[buffer(4)]], constant BsrArgs& a [[buffer(5)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  constexpr int kChunk = kBsrSddmmChunk, kF = BS / 16; // kF x kF fragments per SIMD group
  threadgroup float gs[BS * kChunk];
  threadgroup float xs[BS * kChunk];
  const int64_t p = group.x, b = group.z;
  device T* o = out + (b * a.nnzb + p) * BS * BS;
  const int64_t i = bsr_block_row(indptr, cols, a, p);
  if (i < 0) { // in no block row, or its column is out of range: zeros (the whole threadgroup)
    for (uint e = tid; e < uint(BS * BS); e += kBsrThreads) {
      o[e] = from_float<T>(0.0f);
    }
    return;
  }
  device const T* g = G + b * a.a_stride + i * BS * a.k;
  device const T* x = B + b * a.b_stride + int64_t(cols[p]) * BS * a.k;
  const int r0 = int(simd / 2) * (BS / 2), n0 = int(simd % 2) * (BS / 2);
  Frag acc[kF][kF];
  for (int m = 0; m < kF; ++m) {
    for (int n = 0; n < kF; ++n) {
      acc[m][n] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
  for (int64_t k0 = 0; k0 < a.k; k0 += kChunk) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    stage_rows(gs, g, a.k, k0, a.k, BS, kChunk, tid, kBsrThreads);
    stage_rows(xs, x, a.k, k0, a.k, BS, kChunk, tid, kBsrThreads);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < kChunk && k0 + kk < a.k; kk += 8) { // columns past k are staged 0
      Frag xf[kF];
      for (int n = 0; n < kF; ++n) {
        xf[n] = frag_load_t(xs, kChunk, kk, n0 + n * 8, lane);
      }
      for (int m = 0; m < kF; ++m) {
        const Frag gf = frag_load(gs, kChunk, r0 + m * 8, kk, lane);
        for (int n = 0; n < kF; ++n) {
          simdgroup_multiply_accumulate(acc[m][n], gf, xf[n], acc[m][n]);
        }
      }
    }
  }
  for (int m = 0; m < kF; ++m) {
    for (int n = 0; n < kF; ++n) {
      for (int t = 0; t < 2; ++t) {
        const int r = r0 + m * 8 + frag_row(lane), c = n0 + n * 8 + frag_col(lane) + t;
        o[r * BS + c] = from_float<T>(acc[m][n].thread_elements()[t]);
      }
    }
  }
}

template <typename T, typename I>
[[kernel]] void bsr_sddmm_each(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* G [[buffer(2)]], device const T* B [[buffer(3)]],
    device T* out [[buffer(4)]], constant BsrArgs& a [[buffer(5)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  const int64_t size = a.R * a.C, count = a.nnzb * size, b = gid.y;
  for (int64_t e = gid.x; e < count; e += grid.x) {
    const int64_t rc = e % size;
    out[b * count + e] = from_float<T>(
        bsr_sddmm_element<T, I>(indptr, cols, G, B, a, b, e / size, rc / a.C, rc % a.C));
  }
}

#define MS_BSR_SDDMM_BS(T, tn, I, in_, BS) \
  instantiate_kernel("bsr_sddmm_bs" #BS "_" #tn "_" #in_, bsr_sddmm_tiled, T, I, BS)
#define MS_BSR_SDDMM(T, tn, I, in_)                                       \
  MS_BSR_SDDMM_BS(T, tn, I, in_, 16)                                      \
  MS_BSR_SDDMM_BS(T, tn, I, in_, 32)                                      \
  MS_BSR_SDDMM_BS(T, tn, I, in_, 64)                                      \
  instantiate_kernel("bsr_sddmm_" #tn "_" #in_, bsr_sddmm_each, T, I)
MS_FOR_TYPES(MS_BSR_SDDMM)
