// Block CSR products on the GPU: the kernels' contract and the per-thread code that the CUDA
// (csrc/cuda/kernels/bsr_{spmm,sddmm}.cu) and Metal (metal/bsr_{spmm,sddmm}.metal) kernels
// share; the hosts are csrc/gpu/bsr_{spmm,sddmm}_gpu.cpp.
//   I indptr[mb + 1], I indices[nnzb] (block columns), T data[batch?][nnzb][R][C],
//   bsr_spmm:  T X[batch?][nb * C][k] -> T out[batch][mb * R][k]
//   bsr_sddmm: T G[batch?][mb * R][k], T B[batch?][nb * C][k] -> T out[batch][nnzb][R][C],
//              block p of block row i and block column j being G_i @ B_j^T.
// The CSR rule of csr.h applies to the blocks: a block in no block row, or with a block column
// outside [0, nb), adds nothing to bsr_spmm and is all zeros in bsr_sddmm.
//
// Kernels (T: float32, float16, bfloat16; I: int32, int64), same names and launches on both:
//   bsr_spmm_bs<bs>_<T>_<I>, square blocks of bs in {16, 32, 64} (bsr_tiled): grid
//     (mb, bsr_col_tiles(k), batch) of kBsrThreads; thread block (i, c, b) writes all of
//     out[b], rows [i*bs, i*bs + bs), columns [c*kBsrTileCols, +kBsrTileCols) within k.
//   bsr_sddmm_bs<bs>_<T>_<I>: grid (nnzb, 1, batch) of kBsrThreads; thread block (p, 0, b)
//     writes block p of out[b].
//   bsr_spmm_<T>_<I> / bsr_sddmm_<T>_<I>, any block shape: one thread per output element
//     (bsr_spmm_element / bsr_sddmm_element), grid (blocks_for(count), batch) of kBlock with
//     count = mb*R*k or nnzb*R*C.
// Accumulation is in float32 everywhere; the tiled kernels use the matrix units (mma.sync on
// CUDA for 16-bit values, simdgroup_matrix on Metal).
#pragma once

#include "gpu/core/csr.h"

namespace mlx_sparse::gpu {

struct BsrArgs {
  int64_t mb;       // block rows
  int64_t nb;       // block columns (bound of the block column indices)
  int64_t nnzb;
  int64_t R;        // block rows' height
  int64_t C;        // block columns' width
  int64_t k;        // dense columns
  int64_t a_stride; // elements between batch entries of the first operand (data / G); 0: shared
  int64_t b_stride; // of the second (X / B)
};
static_assert(sizeof(BsrArgs) == 64, "BsrArgs layout is shared by the GPU kernels and hosts");

MS_CONST int kBsrThreads = 128;   // 4 warps / SIMD groups per thread block of a tiled kernel
MS_CONST int kBsrTileCols = 128;  // bsr_spmm: output columns per thread block

// Whether a block shape takes the tiled kernels.
MS_FN bool bsr_tiled(int64_t R, int64_t C) {
  return R == C && (R == 16 || R == 32 || R == 64);
}

MS_FN int64_t bsr_col_tiles(int64_t k) {
  return (k + kBsrTileCols - 1) / kBsrTileCols;
}

// bsr_spmm's element (row, col) of out[b], row in [0, mb*R), col in [0, k).
template <typename T, typename I>
MS_FN float bsr_spmm_element(MS_GLOBAL const I* indptr, MS_GLOBAL const I* cols,
                             MS_GLOBAL const T* data, MS_GLOBAL const T* X, BsrArgs a,
                             int64_t b, int64_t row, int64_t col) {
  const int64_t i = row / a.R, r = row % a.R;
  data += b * a.a_stride;
  X += b * a.b_stride;
  float acc = 0.0f;
  const Range rg = row_range(indptr, i, a.nnzb);
  for (int64_t p = rg.start; p < rg.end; ++p) {
    const int64_t j = static_cast<int64_t>(cols[p]);
    if (!in_range(j, a.nb)) {
      continue;
    }
    MS_GLOBAL const T* blk = data + (p * a.R + r) * a.C;
    MS_GLOBAL const T* x = X + j * a.C * a.k + col;
    for (int64_t c = 0; c < a.C; ++c) {
      acc += to_float(blk[c]) * to_float(x[c * a.k]);
    }
  }
  return acc;
}

// The block row of block p, or -1 when p is in no block row or its column is out of range
// (the block is then all zeros).
template <typename I>
MS_FN int64_t bsr_block_row(MS_GLOBAL const I* indptr, MS_GLOBAL const I* cols, BsrArgs a,
                            int64_t p) {
  const int64_t i = entry_row(indptr, a.mb, a.nnzb, p);
  return i >= 0 && in_range(static_cast<int64_t>(cols[p]), a.nb) ? i : -1;
}

// bsr_sddmm's element (r, c) of block p of out[b].
template <typename T, typename I>
MS_FN float bsr_sddmm_element(MS_GLOBAL const I* indptr, MS_GLOBAL const I* cols,
                              MS_GLOBAL const T* G, MS_GLOBAL const T* B, BsrArgs a, int64_t b,
                              int64_t p, int64_t r, int64_t c) {
  const int64_t i = bsr_block_row(indptr, cols, a, p);
  if (i < 0) {
    return 0.0f;
  }
  MS_GLOBAL const T* g = G + b * a.a_stride + (i * a.R + r) * a.k;
  MS_GLOBAL const T* x = B + b * a.b_stride + (static_cast<int64_t>(cols[p]) * a.C + c) * a.k;
  float acc = 0.0f;
  for (int64_t q = 0; q < a.k; ++q) {
    acc += to_float(g[q]) * to_float(x[q]);
  }
  return acc;
}

} // namespace mlx_sparse::gpu
