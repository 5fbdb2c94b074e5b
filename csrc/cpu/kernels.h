// CPU kernel entry points. Each is compiled once per instruction set (kernels/*.cpp with
// MLX_SPARSE_ISA = base | avx2); the unqualified functions pick one at run time. They run on
// MLX's stream thread, so they never throw (params.h says how they stay total).
#pragma once

#include "params.h"

#define MLX_SPARSE_CPU_KERNELS(X) \
  X(spmv, ProductParams)          \
  X(spmm, ProductParams)          \
  X(sddmm, SddmmParams)           \
  X(todense, TodenseParams)       \
  X(transpose, TransposeParams)   \
  X(rows, RowsParams)             \
  X(row_gather, RowGatherParams)  \
  X(contiguous_copy, CopyParams)  \
  X(cg_step, CgStepParams)        \
  X(sum_duplicates, SumDuplicatesParams) \
  X(spgemm, SpgemmParams)        \
  X(convolve2d, Convolve2dParams) \
  X(softmax, SoftmaxParams)      \
  X(flash_attention, AttentionParams) \
  X(flash_attention_grad, AttentionParams) \
  X(bsr_spmm, BsrSpmmParams)     \
  X(bsr_sddmm, BsrSddmmParams)

namespace mlx_sparse::cpu {

#define MLX_SPARSE_DECLARE(name, P) void name(const P& p) noexcept;
namespace base {
MLX_SPARSE_CPU_KERNELS(MLX_SPARSE_DECLARE)
}
namespace avx2 {
MLX_SPARSE_CPU_KERNELS(MLX_SPARSE_DECLARE)
}
MLX_SPARSE_CPU_KERNELS(MLX_SPARSE_DECLARE)
#undef MLX_SPARSE_DECLARE

// The instruction set the dispatching functions use ("avx2" or "base").
const char* kernel_isa();

} // namespace mlx_sparse::cpu
