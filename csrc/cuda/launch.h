// The CUDA launcher (gpu/launch.h) inside MLX's CUDA graph. launch.cpp is the only file that
// touches MLX's CUDA encoder (mlx::core::cu, not a stable API) and the CUDA driver: kernels
// are loaded by name from the fatbin embedded in the module (driver API, since libmlx's
// static cudart cannot see kernels registered by another runtime).
#pragma once

#include "gpu/launch.h"

namespace mlx_sparse::cuda {

class Launch final : public gpu::Launch {
 public:
  explicit Launch(mlx::core::Stream s) : stream_(s) {}
  bool atomics64() const override { return true; }

 protected:
  // Buffers become device pointers (null for an empty array) and are recorded as the
  // kernel node's inputs or outputs, which orders it in MLX's graph.
  void launch(const std::string& name, gpu::Dims grid, gpu::Dims block, const gpu::Arg* args,
              size_t count) override;
  void keep(const gpu::array& t) override;

 private:
  mlx::core::Stream stream_;
};

} // namespace mlx_sparse::cuda
