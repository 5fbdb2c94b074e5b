// GPU evaluation of bsr_spmm and bsr_sddmm: no kernels yet. GPU builds link through these,
// but nothing reaches them: the ops refuse GPU streams on the host (require_cpu), and the
// Python layer takes the CSR products there.
#include <stdexcept>
#include <string>

#include "gpu/eval.h"

namespace mlx_sparse::gpu {

namespace {
[[noreturn]] void no_kernel(const char* prim) {
  throw std::runtime_error(std::string("[") + prim +
                           "] has no GPU kernel yet; use the CPU (stream=mx.cpu), or "
                           "BSRArray @ X, which takes the CSR product on the GPU.");
}
} // namespace

void eval(Launch&, const BsrSpmm&, const Inputs&, array&) {
  no_kernel("BsrSpmm");
}

void eval(Launch&, const BsrSddmm&, const Inputs&, array&) {
  no_kernel("BsrSddmm");
}

} // namespace mlx_sparse::gpu
