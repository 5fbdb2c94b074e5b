// This build's GPU backend.
#include "metal/launch.h"
#include "ops.h"

namespace mlx_sparse {

std::optional<std::string> gpu_backend() {
  return "metal";
}

std::map<std::string, std::string> metal_compile_all() {
  std::map<std::string, std::string> failures;
  for (int i = 0; i < metal::kFamilyCount; ++i) {
    try {
      metal::compile_family(mlx::core::Device::gpu, metal::kFamilies[i]);
    } catch (const std::exception& e) {
      failures.emplace(metal::kFamilies[i].name, e.what());
    }
  }
  return failures;
}

} // namespace mlx_sparse
