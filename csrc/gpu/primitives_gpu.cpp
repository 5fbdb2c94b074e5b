// eval_gpu of every primitive, on this build's GPU backend (CUDA or Metal): the evaluation
// in csrc/gpu/<family>_gpu.cpp over the backend's launcher.
#include <stdexcept>

#include "gpu/eval.h"

namespace mlx_sparse {

#define MLX_SPARSE_EVAL_GPU(Prim)                                          \
  void Prim::eval_gpu(const std::vector<array>& in, array& out) {          \
    gpu::eval(*gpu::backend_launch(stream()), *this, in, out);             \
  }
MLX_SPARSE_EVAL_GPU(CsrSpmv)
MLX_SPARSE_EVAL_GPU(CsrSpmm)
MLX_SPARSE_EVAL_GPU(CsrSddmm)
MLX_SPARSE_EVAL_GPU(CsrSoftmax)
MLX_SPARSE_EVAL_GPU(CsrTodense)
MLX_SPARSE_EVAL_GPU(CsrSumDuplicates)
MLX_SPARSE_EVAL_GPU(CsrRows)
MLX_SPARSE_EVAL_GPU(CsrSpgemm)
MLX_SPARSE_EVAL_GPU(CsrSpgemmWorkspace)
MLX_SPARSE_EVAL_GPU(CsrSpgemmCount)
MLX_SPARSE_EVAL_GPU(CsrSpgemmFill)
MLX_SPARSE_EVAL_GPU(BsrSpmm)
MLX_SPARSE_EVAL_GPU(BsrSddmm)
#undef MLX_SPARSE_EVAL_GPU

// csr_convolve2d builds the SpGEMM X @ T^T on GPU streams: this primitive is made for the
// CPU only, so this is never reached.
void CsrConvolve2d::eval_gpu(const std::vector<array>&, array&) {
  throw std::logic_error("[csr_convolve2d] the direct kernel is CPU-only (GPU streams take the "
                         "Toeplitz SpGEMM).");
}

// contiguous_copy is MLX's contiguous on GPU streams: this primitive is made for the CPU only.
void ContiguousCopy::eval_gpu(const std::vector<array>&, array&) {
  throw std::logic_error("[contiguous_copy] the tiled copy is CPU-only (GPU streams take MLX's "
                         "contiguous).");
}

// csr_row_gather is MLX's take on GPU streams: this primitive is made for the CPU only.
void CsrRowGather::eval_gpu(const std::vector<array>&, array&) {
  throw std::logic_error("[csr_row_gather] the row copy is CPU-only (GPU streams take a gather).");
}

// csr_cg_step is refused on GPU streams (linalg.cg steps with MLX ops there).
void CsrCgStep::eval_gpu(const std::vector<array>&, array&) {
  throw std::logic_error("[csr_cg_step] the fused step is CPU-only.");
}

void CsrTranspose::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  gpu::eval(*gpu::backend_launch(stream()), *this, in, outs);
}

void FlashAttention::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  gpu::eval(*gpu::backend_launch(stream()), *this, in, outs);
}

void FlashAttentionGrad::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  gpu::eval(*gpu::backend_launch(stream()), *this, in, outs);
}

} // namespace mlx_sparse
