// This build's GPU backend.
#include "ops.h"

namespace mlx_sparse {

std::optional<std::string> gpu_backend() {
  return "cuda";
}

} // namespace mlx_sparse
