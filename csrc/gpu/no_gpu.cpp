// Built when no GPU backend is: every primitive says so at evaluation.
#include <stdexcept>
#include <string>

#include "ops.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {
[[noreturn]] void no_gpu(const char* name) {
  throw std::runtime_error(std::string("[") + name +
                           "] has no GPU implementation in this build of mlx_sparse; "
                           "use the CPU (ms.use_cpu() or stream=mx.cpu).");
}
} // namespace

#define MLX_SPARSE_NO_GPU(Prim) \
  void Prim::eval_gpu(const std::vector<array>&, array&) { no_gpu(#Prim); }
MLX_SPARSE_NO_GPU(CsrSpmv)
MLX_SPARSE_NO_GPU(CsrSpmm)
MLX_SPARSE_NO_GPU(CsrSddmm)
MLX_SPARSE_NO_GPU(CsrTodense)
MLX_SPARSE_NO_GPU(CsrSumDuplicates)
MLX_SPARSE_NO_GPU(CsrSpgemm)
MLX_SPARSE_NO_GPU(CsrConvolve2d)
MLX_SPARSE_NO_GPU(CsrRows)
MLX_SPARSE_NO_GPU(CsrRowGather)
MLX_SPARSE_NO_GPU(ContiguousCopy)
MLX_SPARSE_NO_GPU(CsrCgStep)
MLX_SPARSE_NO_GPU(CsrSoftmax)
MLX_SPARSE_NO_GPU(CsrSpgemmWorkspace)
MLX_SPARSE_NO_GPU(CsrSpgemmCount)
MLX_SPARSE_NO_GPU(CsrSpgemmFill)
MLX_SPARSE_NO_GPU(BsrSpmm)
MLX_SPARSE_NO_GPU(BsrSddmm)
#undef MLX_SPARSE_NO_GPU

std::optional<std::string> gpu_backend() {
  return std::nullopt;
}

void CsrTranspose::eval_gpu(const std::vector<array>&, std::vector<array>&) {
  no_gpu("CsrTranspose");
}

void FlashAttention::eval_gpu(const std::vector<array>&, std::vector<array>&) {
  no_gpu("FlashAttention");
}

void FlashAttentionGrad::eval_gpu(const std::vector<array>&, std::vector<array>&) {
  no_gpu("FlashAttentionGrad");
}

} // namespace mlx_sparse
