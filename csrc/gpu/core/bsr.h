// Block CSR products on the GPU: parameters and per-thread helpers shared by the kernels
// (csrc/cuda/kernels/bsr_spmm.cu) and the host that will launch them.
//   I indptr[mb + 1], I indices[nnzb] (block columns), T data[batch?][nnzb][R][C],
//   T X[batch?][nb * C][k], T out[batch][mb * R][k]
// The CSR rule of csr.h applies to the blocks: a block in no block row, or with a block column
// outside [0, nb), adds nothing.
#pragma once

#include "gpu/core/csr.h"

namespace mlx_sparse::gpu {

// bsr_spmm: out[b] = A_b @ X[b]; a batch stride of 0 broadcasts that operand.
struct BsrArgs {
  int64_t mb;          // block rows
  int64_t nb;          // block columns (bound of the block column indices)
  int64_t nnzb;
  int64_t R;           // block rows' height
  int64_t C;           // block columns' width
  int64_t k;           // dense columns
  int64_t data_stride; // elements between batch entries of data (0: shared)
  int64_t x_stride;    // of X
};
static_assert(sizeof(BsrArgs) == 64, "BsrArgs layout is shared by the GPU kernels and hosts");

// The tensor-core tile (mma m16n8k16): a warp computes kBsrMmaRows x kBsrMmaCols of the
// output, its 16 rows in one block row, stepping through the block row's blocks 16 columns
// of C at a time.
MS_CONST int kBsrMmaRows = 16;
MS_CONST int kBsrMmaK = 16;
MS_CONST int kBsrMmaN = 8;
MS_CONST int kBsrMmaCols = 64; // 8 n-tiles of 8 columns

// Whether blocks of R x C can take the mma kernel (16-bit values only).
MS_FN bool bsr_mma_fits(int64_t R, int64_t C) {
  return R > 0 && C > 0 && R % kBsrMmaRows == 0 && C % kBsrMmaK == 0;
}

// The mma kernel's grid: x over (block row, 16-row tile), y over 64-column tiles of k.
MS_FN int64_t bsr_mma_row_tiles(BsrArgs a) {
  return a.mb * (a.R / kBsrMmaRows);
}
MS_FN int64_t bsr_mma_col_tiles(BsrArgs a) {
  return (a.k + kBsrMmaCols - 1) / kBsrMmaCols;
}

} // namespace mlx_sparse::gpu
