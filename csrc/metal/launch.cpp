// The thin layer over MLX's Metal backend (see launch.h).
#include "metal/launch.h"

#include <dlfcn.h>

#include <stdexcept>

#include "mlx/allocator.h"
#include "mlx/backend/metal/device.h"

namespace mlx_sparse::metal {

namespace mx = mlx::core;

namespace {

// The folder of this module: CMake installs mlx_sparse.metallib beside it.
const std::string& module_dir() {
  static const std::string dir = [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<const void*>(&module_dir), &info) == 0 || !info.dli_fname) {
      throw std::runtime_error("[mlx_sparse] cannot locate the module to load its Metal kernels.");
    }
    const std::string path = info.dli_fname;
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  }();
  return dir;
}

} // namespace

void Launch::allocate(array& out) {
  out.set_data(mx::allocator::malloc(out.nbytes()));
}

array Launch::temporary(size_t count, mx::Dtype dtype) {
  const size_t n = count > 0 ? count : 1;
  array t(mx::allocator::malloc(n * mx::size_of(dtype)), {static_cast<int>(n)}, dtype);
  mx::metal::get_command_encoder(stream_).add_temporary(t);
  return t;
}

void Launch::begin(const std::string& name, Dims threads) {
  auto& d = mx::metal::device(stream_.device);
  // libraries are cached device-wide by name, so this loads the file once
  MTL::Library* lib = d.get_library("mlx_sparse", module_dir());
  MTL::ComputePipelineState* kernel = d.get_kernel(name, lib);
  if (threads.x * threads.y * threads.z > kernel->maxTotalThreadsPerThreadgroup()) {
    throw std::runtime_error("[mlx_sparse] Metal kernel " + name + " cannot run " +
                             std::to_string(threads.x * threads.y * threads.z) +
                             " threads per threadgroup on this GPU.");
  }
  mx::metal::get_command_encoder(stream_).set_compute_pipeline_state(kernel);
}

void Launch::bind(const In& in, int idx) {
  mx::metal::get_command_encoder(stream_).set_input_array(in.a, idx);
}

void Launch::bind(const Out& out, int idx) {
  mx::metal::get_command_encoder(stream_).set_output_array(out.a, idx);
}

void Launch::bind_bytes(const void* p, size_t n, int idx) {
  mx::metal::get_command_encoder(stream_).set_bytes(static_cast<const char*>(p),
                                                     static_cast<int>(n), idx);
}

void Launch::dispatch(Dims groups, Dims threads) {
  mx::metal::get_command_encoder(stream_).dispatch_threadgroups(
      MTL::Size(groups.x, groups.y, groups.z), MTL::Size(threads.x, threads.y, threads.z));
}

} // namespace mlx_sparse::metal
