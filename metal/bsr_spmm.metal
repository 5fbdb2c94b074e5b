// bsr_spmm on Metal (contract: gpu/core/bsr.h), launched as csrc/cuda/kernels/bsr_spmm.cu is
// (csrc/gpu/bsr_spmm_gpu.cpp). Tiled kernels for square blocks of 16, 32 and 64: a threadgroup
// owns one block row's bs x kBsrTileCols output tile, each of its 4 SIMD groups a quarter of
// the columns as (bs / 8) x 4 simdgroup_matrix fragments, and walks the row's blocks in chunks
// staged in threadgroup memory as float (16-bit values too: one code path, float32 sums).
// Other block shapes: one thread per output value (bsr_spmm_element), grid-stride.
#include "common.h"
#include "gpu/core/bsr.h"
#include "mma.h"

namespace mlx_sparse::gpu {

constant constexpr int kBsrSimdCols = kBsrTileCols / (kBsrThreads / kSimd); // per SIMD group
constant constexpr int kBsrSimdFrags = kBsrSimdCols / 8;

} // namespace mlx_sparse::gpu

template <typename T, typename I, int BS>
[[kernel]] void bsr_spmm_tiled(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* data [[buffer(2)]], device const T* X [[buffer(3)]],
    device T* out [[buffer(4)]], constant BsrArgs& a [[buffer(5)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  constexpr int kChunk = BS < 32 ? BS : 32; // block columns staged per step: 24 KB at bs 64
  threadgroup float as[BS * kChunk];
  threadgroup float xs[kChunk * kBsrTileCols];
  const int64_t i = group.x, c0 = int64_t(group.y) * kBsrTileCols, b = group.z;
  const int w0 = int(simd) * kBsrSimdCols;
  // fragments wholly past k stay 0 and are skipped (uniform over the SIMD group)
  const int64_t left = a.k - c0 - w0;
  const int live = left <= 0 ? 0 : (left >= kBsrSimdCols ? kBsrSimdFrags : int((left + 7) / 8));
  data += b * a.a_stride;
  X += b * a.b_stride;
  Frag acc[BS / 8][kBsrSimdFrags];
  for (int m = 0; m < BS / 8; ++m) {
    for (int n = 0; n < kBsrSimdFrags; ++n) {
      acc[m][n] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
  const Range rg = row_range(indptr, i, a.nnzb);
  for (int64_t p = rg.start; p < rg.end; ++p) {
    const int64_t j = int64_t(cols[p]);
    if (!in_range(j, a.nb)) { // adds nothing; the same for the whole threadgroup
      continue;
    }
    for (int kc = 0; kc < BS; kc += kChunk) {
      threadgroup_barrier(mem_flags::mem_threadgroup);
      stage_rows(as, data + p * BS * BS, BS, kc, BS, BS, kChunk, tid, kBsrThreads);
      stage_rows(xs, X + (j * BS + kc) * a.k, a.k, c0, a.k, kChunk, kBsrTileCols, tid,
                 kBsrThreads);
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (int kk = 0; kk < kChunk; kk += 8) {
        Frag xf[kBsrSimdFrags];
        for (int n = 0; n < kBsrSimdFrags; ++n) {
          if (n < live) {
            xf[n] = frag_load(xs, kBsrTileCols, kk, w0 + n * 8, lane);
          }
        }
        for (int m = 0; m < BS / 8; ++m) {
          const Frag af = frag_load(as, kChunk, m * 8, kk, lane);
          for (int n = 0; n < kBsrSimdFrags; ++n) {
            if (n < live) {
              simdgroup_multiply_accumulate(acc[m][n], af, xf[n], acc[m][n]);
            }
          }
        }
      }
    }
  }
  // every element of the tile within k, zeros for an empty block row
  device T* o = out + (b * a.mb + i) * BS * a.k;
  for (int m = 0; m < BS / 8; ++m) {
    const int64_t row = m * 8 + frag_row(lane);
    for (int n = 0; n < kBsrSimdFrags; ++n) {
      for (int t = 0; t < 2; ++t) {
        const int64_t col = c0 + w0 + n * 8 + frag_col(lane) + t;
        if (col < a.k) {
          o[row * a.k + col] = from_float<T>(acc[m][n].thread_elements()[t]);
        }
      }
    }
  }
}

template <typename T, typename I>
[[kernel]] void bsr_spmm_each(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* data [[buffer(2)]], device const T* X [[buffer(3)]],
    device T* out [[buffer(4)]], constant BsrArgs& a [[buffer(5)]],
    uint3 gid [[thread_position_in_grid]], uint3 grid [[threads_per_grid]]) {
  const int64_t count = a.mb * a.R * a.k, b = gid.y;
  for (int64_t e = gid.x; e < count; e += grid.x) {
    out[b * count + e] =
        from_float<T>(bsr_spmm_element<T, I>(indptr, cols, data, X, a, b, e / a.k, e % a.k));
  }
}

#define MS_BSR_SPMM_BS(T, tn, I, in_, BS) \
  instantiate_kernel("bsr_spmm_bs" #BS "_" #tn "_" #in_, bsr_spmm_tiled, T, I, BS)
#define MS_BSR_SPMM(T, tn, I, in_)                                        \
  MS_BSR_SPMM_BS(T, tn, I, in_, 16)                                       \
  MS_BSR_SPMM_BS(T, tn, I, in_, 32)                                       \
  MS_BSR_SPMM_BS(T, tn, I, in_, 64)                                       \
  instantiate_kernel("bsr_spmm_" #tn "_" #in_, bsr_spmm_each, T, I)
MS_FOR_TYPES(MS_BSR_SPMM)
