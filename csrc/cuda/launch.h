// Launching our CUDA kernels inside MLX's CUDA graph. launch.cpp is the only file that
// touches MLX's CUDA encoder (mlx::core::cu, not a stable API) and the CUDA driver:
// kernels are loaded by name from the fatbin embedded in the module (driver API, since
// libmlx's static cudart cannot see kernels registered by another runtime).
#pragma once

#include <cstddef>
#include <vector>
#include <string>

#include "mlx/array.h"
#include "mlx/stream.h"

namespace mlx_sparse::cuda {

using mlx::core::array;

struct Dims {
  unsigned x = 1, y = 1, z = 1;
};

// One primitive's work on a GPU stream.
class Launch {
 public:
  explicit Launch(mlx::core::Stream s) : stream_(s) {}

  // Allocates `out` on the device.
  void allocate(array& out);
  // A scratch buffer of `count` float32 or index values that lives until the graph has run.
  array temporary(size_t count, mlx::core::Dtype dtype);
  // Device address of an array's data.
  static void* ptr(const array& a);

  // Adds kernel `name` with the given arguments. `reads` and `writes` order it after the
  // kernels that produce what it reads and before those that read what it writes.
  template <typename... Args>
  void kernel(const std::string& name, Dims grid, Dims block,
              const std::vector<array>& reads, const std::vector<array>& writes,
              Args... args) {
    void* params[] = {static_cast<void*>(&args)...};
    launch(name, grid, block, reads, writes, params);
  }

 private:
  void launch(const std::string& name, Dims grid, Dims block, const std::vector<array>& reads,
              const std::vector<array>& writes, void** params);
  mlx::core::Stream stream_;
};

} // namespace mlx_sparse::cuda
