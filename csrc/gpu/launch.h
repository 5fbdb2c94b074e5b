// The one interface between each op's GPU evaluation (csrc/gpu/*_gpu.cpp, written once) and
// a backend, which implements only this launcher: CUDA (csrc/cuda/launch.cpp), Metal
// (csrc/metal/launch.cpp) and, for tests on Linux, the Metal emulator (csrc/emu/launch.cpp).
// A kernel's arguments come in its parameter order, which is its [[buffer(i)]] order on Metal.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

#include "mlx/allocator.h"
#include "mlx/array.h"
#include "mlx/stream.h"

namespace mlx_sparse::gpu {

using mlx::core::array;

struct Dims {
  unsigned x = 1, y = 1, z = 1;
};

// Buffer arguments: In is read; Out is written (and may be read), which orders the kernel
// after the earlier users of the buffer. Anything else is a plain value, copied in.
struct In {
  const array& a;
};
struct Out {
  array& a;
};

// One kernel argument: a buffer, or the bytes of a plain value.
struct Arg {
  const array* buffer = nullptr;
  bool written = false;
  const void* bytes = nullptr;
  size_t size = 0;
};

class Launch {
 public:
  virtual ~Launch() = default;

  // Gives `out` its memory (MLX's allocator serves every backend).
  void allocate(array& out) { out.set_data(mlx::core::allocator::malloc(out.nbytes())); }
  // A scratch buffer of `count` values that lives until the work launched so far has run.
  array temporary(size_t count, mlx::core::Dtype dtype) {
    const size_t n = count > 0 ? count : 1;
    array t(mlx::core::allocator::malloc(n * mlx::core::size_of(dtype)), {static_cast<int>(n)},
            dtype);
    keep(t);
    return t;
  }
  // Whether kernels have 64-bit device atomics (Metal has none).
  virtual bool atomics64() const = 0;

  // Kernel `name` over `groups` blocks (threadgroups) of `threads` threads; an empty grid
  // launches nothing.
  template <typename... Args>
  void kernel(const std::string& name, Dims groups, Dims threads, const Args&... args) {
    if (groups.x == 0 || groups.y == 0 || groups.z == 0) {
      return;
    }
    const Arg list[] = {arg(args)...};
    launch(name, groups, threads, list, sizeof...(Args));
  }

 protected:
  virtual void launch(const std::string& name, Dims groups, Dims threads, const Arg* args,
                      size_t count) = 0;
  // Holds `t` until the work launched so far has run (the stream's encoder).
  virtual void keep(const array& t) = 0;

 private:
  static Arg arg(const In& in) { return {&in.a, false}; }
  static Arg arg(const Out& out) { return {&out.a, true}; }
  template <typename T>
  static Arg arg(const T& value) {
    static_assert(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>,
                  "kernel arguments are In, Out or plain values");
    return {nullptr, false, &value, sizeof(T)};
  }
};

// This build's GPU launcher for stream `s` (CUDA or Metal).
std::unique_ptr<Launch> backend_launch(mlx::core::Stream s);

} // namespace mlx_sparse::gpu
