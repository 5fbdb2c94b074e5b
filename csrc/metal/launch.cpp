// The thin layer over MLX's Metal backend (see launch.h).
#include "metal/launch.h"

#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "metal/families.h"
#include "mlx/backend/metal/device.h"

namespace mlx_sparse::metal {

namespace mx = mlx::core;

namespace {

std::string utf8(NS::String* s) {
  return s && s->utf8String() ? s->utf8String() : "unknown";
}

std::string compile_error(const Family& f, mx::metal::Device& d, const std::string& diag) {
  // the NSStrings below are autoreleased; this thread may have no pool of its own
  auto pool = NS::TransferPtr(NS::AutoreleasePool::alloc()->init());
  return std::string("[") + f.name + "] Metal could not compile mlx_sparse's '" + f.name +
         "' kernels on " + utf8(NS::ProcessInfo::processInfo()->operatingSystemVersionString()) +
         ", GPU " + utf8(d.mtl_device()->name()) + " (" + d.get_architecture() +
         "). Please report this with Metal's diagnostic:\n" + diag +
         "\nThe CPU still works: ms.use_cpu() (or stream=mx.cpu).";
}

// Families that failed, with their error: a failed compile is not retried at every call.
std::mutex failed_mutex;
std::unordered_map<std::string, std::string> failed;

// The family's library, compiled from its embedded source on first use (MLX caches it
// device-wide by name). MLX's get_library throws std::runtime_error on a compile error.
MTL::Library* library(mx::metal::Device& d, const Family& f) {
  {
    std::lock_guard lock(failed_mutex);
    if (auto it = failed.find(f.name); it != failed.end()) {
      throw std::runtime_error(it->second);
    }
  }
  try {
    return d.get_library(std::string("mlx_sparse_") + f.name,
                         [&f] { return family_source(f); });
  } catch (const std::exception& e) {
    const std::string msg = compile_error(f, d, e.what());
    std::lock_guard lock(failed_mutex);
    failed.emplace(f.name, msg);
    throw std::runtime_error(msg);
  }
}

} // namespace

void compile_family(mlx::core::Device device, const Family& family) {
  library(mx::metal::device(device), family);
}

void Launch::keep(const gpu::array& t) {
  mx::metal::get_command_encoder(stream_).add_temporary(t);
}

void Launch::launch(const std::string& name, gpu::Dims groups, gpu::Dims threads,
                    const gpu::Arg* args, size_t count) {
  const Family* family = family_of(name);
  if (!family) {
    throw std::logic_error("[mlx_sparse] no Metal kernel family holds kernel " + name + ".");
  }
  auto& d = mx::metal::device(stream_.device);
  MTL::ComputePipelineState* kernel = d.get_kernel(name, library(d, *family));
  if (threads.x * threads.y * threads.z > kernel->maxTotalThreadsPerThreadgroup()) {
    throw std::runtime_error("[mlx_sparse] Metal kernel " + name + " cannot run " +
                             std::to_string(threads.x * threads.y * threads.z) +
                             " threads per threadgroup on this GPU.");
  }
  auto& enc = mx::metal::get_command_encoder(stream_);
  enc.set_compute_pipeline_state(kernel);
  for (size_t i = 0; i < count; ++i) {
    const int idx = static_cast<int>(i);
    if (const gpu::array* a = args[i].buffer) {
      // MLX's set_output_array takes a mutable array; only the buffer is bound
      args[i].written ? enc.set_output_array(const_cast<gpu::array&>(*a), idx)
                      : enc.set_input_array(*a, idx);
    } else {
      enc.set_bytes(static_cast<const char*>(args[i].bytes), static_cast<int>(args[i].size), idx);
    }
  }
  enc.dispatch_threadgroups(MTL::Size(groups.x, groups.y, groups.z),
                            MTL::Size(threads.x, threads.y, threads.z));
}

} // namespace mlx_sparse::metal

namespace mlx_sparse::gpu {

std::unique_ptr<Launch> backend_launch(mlx::core::Stream s) {
  return std::make_unique<metal::Launch>(s);
}

} // namespace mlx_sparse::gpu
