// bsr_spmm on CUDA tensor cores (NOT YET RUN on a GPU: compiled by scripts/check_cuda.sh only,
// and no host launches it yet; gpu/bsr_spmm_gpu.cpp still says there is no GPU kernel).
// One warp per output tile of 16 rows x 64 columns (gpu/core/bsr.h): for each block of its
// block row and each 16-wide slice of the block's columns, one A fragment (16 x 16 of the
// block) and 8 B fragments (16 x 8 of X) feed 8 mma.sync m16n8k16 with float32 accumulators.
// float16 / bfloat16 only, blocks of multiples of 16 (bsr_mma_fits). Fragments are read
// straight from global memory (A in 32-bit pairs, B element by element); staging X through
// shared memory with ldmatrix.trans is the next step once this has been run and checked.
#include "common.cuh"
#include "gpu/core/bsr.h"

namespace mlx_sparse::gpu {

template <typename T>
__device__ __forceinline__ uint32_t pack2(T lo, T hi) {
  uint16_t l, h;
  memcpy(&l, &lo, 2);
  memcpy(&h, &hi, 2);
  return static_cast<uint32_t>(l) | (static_cast<uint32_t>(h) << 16);
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4],
                                                  uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4],
                                                         uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// X[row][col] as T, 0 past column k (the last column tile may be partial).
template <typename T>
__device__ __forceinline__ T x_at(const T* X, int64_t row, int64_t col, int64_t k) {
  return col < k ? X[row * k + col] : T(0.0f);
}

// Grid: x = warps over bsr_mma_row_tiles (one warp per 32 threads of a block), y = column
// tiles of k, z = batch. Lane roles follow PTX's m16n8k16 fragment layout: g = lane / 4
// picks a row (A, D) or column (B), t = lane % 4 a pair of k (A, B) or of columns (D).
template <typename T, typename I>
__device__ __forceinline__ void bsr_spmm_mma(const I* indptr, const I* cols, const T* data,
                                             const T* X, T* out, BsrArgs a) {
  const int64_t warp = global_thread() / kWarp;
  if (warp >= bsr_mma_row_tiles(a)) {
    return; // whole warps leave together, so mma.sync sees full warps
  }
  const int lane = threadIdx.x % kWarp, g = lane / 4, t = lane % 4;
  const int64_t tiles_per_row = a.R / kBsrMmaRows;
  const int64_t i = warp / tiles_per_row;                // block row
  const int64_t r0 = (warp % tiles_per_row) * kBsrMmaRows; // first row in the block
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kBsrMmaCols;
  const int64_t b = blockIdx.z;
  data += b * a.data_stride;
  X += b * a.x_stride;
  float acc[kBsrMmaCols / kBsrMmaN][4] = {};
  const Range rg = row_range(indptr, i, a.nnzb);
  for (int64_t p = rg.start; p < rg.end; ++p) {
    const int64_t j = static_cast<int64_t>(cols[p]);
    if (!in_range(j, a.nb)) {
      continue; // the CSR rule: a block outside the columns adds nothing
    }
    const T* blk = data + (p * a.R + r0) * a.C;
    for (int64_t kk = 0; kk < a.C; kk += kBsrMmaK) {
      // A: rows g and g + 8, columns kk + 2t (+1) and kk + 2t + 8 (+1), as 32-bit pairs
      uint32_t af[4];
      const T* a_lo = blk + g * a.C + kk + 2 * t;
      const T* a_hi = a_lo + 8 * a.C;
      af[0] = *reinterpret_cast<const uint32_t*>(a_lo);
      af[1] = *reinterpret_cast<const uint32_t*>(a_hi);
      af[2] = *reinterpret_cast<const uint32_t*>(a_lo + 8);
      af[3] = *reinterpret_cast<const uint32_t*>(a_hi + 8);
      const int64_t xr = j * a.C + kk + 2 * t; // X rows of this lane's k pairs
#pragma unroll
      for (int n = 0; n < kBsrMmaCols / kBsrMmaN; ++n) {
        const int64_t col = c0 + n * kBsrMmaN + g;
        const uint32_t b0 = pack2(x_at(X, xr, col, a.k), x_at(X, xr + 1, col, a.k));
        const uint32_t b1 = pack2(x_at(X, xr + 8, col, a.k), x_at(X, xr + 9, col, a.k));
        mma_16816<T>(acc[n], af, b0, b1);
      }
    }
  }
  // D: rows g and g + 8, columns 2t and 2t + 1 of each n-tile
  T* o = out + (b * a.mb * a.R + i * a.R + r0) * a.k;
#pragma unroll
  for (int n = 0; n < kBsrMmaCols / kBsrMmaN; ++n) {
    const int64_t col = c0 + n * kBsrMmaN + 2 * t;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = g + 8 * h;
      if (col < a.k) {
        o[row * a.k + col] = from_float<T>(acc[n][2 * h]);
      }
      if (col + 1 < a.k) {
        o[row * a.k + col + 1] = from_float<T>(acc[n][2 * h + 1]);
      }
    }
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_BSR_SPMM(T, tn, I, in_)                                                          \
  extern "C" __global__ void bsr_spmm_mma_m16n8k16_##tn##_##in_(                            \
      const I* indptr, const I* cols, const T* data, const T* X, T* out, BsrArgs a) {       \
    bsr_spmm_mma<T, I>(indptr, cols, data, X, out, a);                                      \
  }
MS_BSR_SPMM(__half, float16, int32_t, int32)
MS_BSR_SPMM(__half, float16, int64_t, int64)
MS_BSR_SPMM(__nv_bfloat16, bfloat16, int32_t, int32)
MS_BSR_SPMM(__nv_bfloat16, bfloat16, int64_t, int64)
