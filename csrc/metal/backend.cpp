// This build's GPU backend.
#include "ops.h"

namespace mlx_sparse {

std::optional<std::string> gpu_backend() {
  return "metal";
}

} // namespace mlx_sparse
