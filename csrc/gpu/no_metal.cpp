// Built when the GPU backend is not Metal: there are no run-time compiled kernels.
#include "ops.h"

namespace mlx_sparse {

std::map<std::string, std::string> metal_compile_all() {
  return {};
}

} // namespace mlx_sparse
