// Launch constants, read by the host code (csrc/gpu/) and by both kernel dialects
// (csrc/cuda/kernels/, metal/): a kernel's shared arrays and the grid the host computes for
// it come from the same numbers.
#pragma once

#include "gpu/core/dialect.h"

namespace mlx_sparse::gpu {

MS_CONST int kSimdWidth = 32;  // a CUDA warp, an Apple SIMD group
MS_CONST int kBlock = 256;     // threads per block (threadgroup) of most kernels
MS_CONST int kScanBlock = 1024; // threads of one inclusive-scan block

// spmv_nnz_split: a block per chunk of kBlock * kSpmvPerThread entries, staged in shared
// memory; spmm_nnz_split: a warp per chunk of kSpmmChunk entries.
MS_CONST int kSpmvPerThread = 4;
MS_CONST int64_t kSpmvChunk = kBlock * kSpmvPerThread;
MS_CONST int64_t kSpmmChunk = 4 * kSimdWidth;

} // namespace mlx_sparse::gpu
