// The Metal launcher (gpu/launch.h) over MLX's Metal command encoder. launch.cpp is the only
// file that touches mlx::core::metal: it compiles each kernel family's embedded source at
// first use (metal/families.h) and binds a kernel's arguments in order to [[buffer(0)]], ...
#pragma once

#include "gpu/launch.h"
#include "metal/families.h"

namespace mlx_sparse::metal {

// Compiles `family`'s library on `device` unless done; throws std::runtime_error naming the
// family, macOS, the GPU and Metal's diagnostic if it does not compile (remembered).
void compile_family(mlx::core::Device device, const Family& family);

class Launch final : public gpu::Launch {
 public:
  explicit Launch(mlx::core::Stream s) : stream_(s) {}
  bool atomics64() const override { return false; }

 protected:
  // Threadgroups of full size (as on CUDA); buffers bound as MLX's inputs or outputs (the
  // encoder inserts the barriers), plain values with set_bytes.
  void launch(const std::string& name, gpu::Dims groups, gpu::Dims threads,
              const gpu::Arg* args, size_t count) override;
  void keep(const gpu::array& t) override;

 private:
  mlx::core::Stream stream_;
};

} // namespace mlx_sparse::metal
