// Launching our Metal kernels through MLX's Metal command encoder. launch.cpp is the only
// file that touches mlx::core::metal: it compiles each kernel family's embedded source at
// first use (metal/families.h) and binds a kernel's arguments in order to [[buffer(0)]], ...
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "metal/families.h"
#include "mlx/array.h"
#include "mlx/stream.h"

namespace mlx_sparse::metal {

using mlx::core::array;

// Compiles `family`'s library on `device` unless done; throws std::runtime_error naming the
// family, macOS, the GPU and Metal's diagnostic if it does not compile (remembered).
void compile_family(mlx::core::Device device, const Family& family);

struct Dims {
  unsigned x = 1, y = 1, z = 1;
};

// Buffer arguments: In is read; Out is written (and may be read), which orders the kernel
// after earlier users of the buffer (MLX's encoder inserts the barriers).
struct In {
  const array& a;
};
struct Out {
  array& a;
};

// One primitive's work on a GPU stream.
class Launch {
 public:
  explicit Launch(mlx::core::Stream s) : stream_(s) {}

  void allocate(array& out);
  // A scratch buffer of `count` values that lives until the command buffer has run.
  array temporary(size_t count, mlx::core::Dtype dtype);

  // Kernel `name` over `groups` threadgroups of `threads` threads (full groups, as on
  // CUDA); In/Out become buffers, anything else is copied in as bytes (set_bytes).
  template <typename... Args>
  void kernel(const std::string& name, Dims groups, Dims threads, const Args&... args) {
    if (groups.x == 0 || groups.y == 0 || groups.z == 0) {
      return;
    }
    begin(name, threads);
    int idx = 0;
    (bind(args, idx++), ...);
    dispatch(groups, threads);
  }

 private:
  void begin(const std::string& name, Dims threads);
  void bind(const In& in, int idx);
  void bind(const Out& out, int idx);
  template <typename T>
  void bind(const T& value, int idx) {
    static_assert(std::is_trivially_copyable_v<T>, "kernel arguments are plain values");
    bind_bytes(&value, sizeof(T), idx);
  }
  void bind_bytes(const void* p, size_t n, int idx);
  void dispatch(Dims groups, Dims threads);
  mlx::core::Stream stream_;
};

} // namespace mlx_sparse::metal
