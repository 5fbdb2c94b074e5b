// The thin layer over MLX's CUDA encoder and the CUDA driver (see launch.h).
#include "cuda/launch.h"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "mlx/backend/cuda/device.h"

extern "C" const unsigned char* const mlx_sparse_fatbins[];
extern "C" const size_t mlx_sparse_fatbin_count;

namespace mlx_sparse::cuda {

namespace mx = mlx::core;

namespace {

// The driver entry points we need, opened at run time so nothing links against libcuda.
struct Driver {
  using LoadData = CUresult (*)(CUmodule*, const void*);
  using GetFunction = CUresult (*)(CUfunction*, CUmodule, const char*);
  using ErrorString = CUresult (*)(CUresult, const char**);
  LoadData load_data = nullptr;
  GetFunction get_function = nullptr;
  ErrorString error_string = nullptr;

  Driver() {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      throw std::runtime_error("[mlx_sparse] cannot open the CUDA driver (libcuda.so.1).");
    }
    load_data = reinterpret_cast<LoadData>(dlsym(lib, "cuModuleLoadData"));
    get_function = reinterpret_cast<GetFunction>(dlsym(lib, "cuModuleGetFunction"));
    error_string = reinterpret_cast<ErrorString>(dlsym(lib, "cuGetErrorString"));
    if (!load_data || !get_function || !error_string) {
      throw std::runtime_error("[mlx_sparse] the CUDA driver lacks cuModuleLoadData.");
    }
  }

  void check(CUresult r, const std::string& what) const {
    if (r != CUDA_SUCCESS) {
      const char* msg = "unknown error";
      error_string(r, &msg);
      throw std::runtime_error("[mlx_sparse] " + what + ": " + msg);
    }
  }
};

// Kernels by (device, name); each device loads the embedded modules (one per .cu file) once.
CUfunction function(int device, const std::string& name) {
  static std::mutex mutex;
  static std::unordered_map<int, std::vector<CUmodule>> modules;
  static std::unordered_map<std::string, CUfunction> functions;
  std::lock_guard<std::mutex> lock(mutex);
  static Driver driver;
  const std::string key = std::to_string(device) + ":" + name;
  if (auto it = functions.find(key); it != functions.end()) {
    return it->second;
  }
  auto& mods = modules[device];
  if (mods.empty()) {
    for (size_t i = 0; i < mlx_sparse_fatbin_count; ++i) {
      CUmodule m;
      driver.check(driver.load_data(&m, mlx_sparse_fatbins[i]), "loading the kernels");
      mods.push_back(m);
    }
  }
  for (CUmodule m : mods) {
    CUfunction f;
    if (driver.get_function(&f, m, name.c_str()) == CUDA_SUCCESS) {
      functions.emplace(key, f);
      return f;
    }
  }
  throw std::runtime_error("[mlx_sparse] no CUDA kernel named " + name + " in this build.");
}

} // namespace

void Launch::keep(const gpu::array& t) {
  mx::cu::get_command_encoder(stream_).add_temporary(t);
}

void Launch::launch(const std::string& name, gpu::Dims grid, gpu::Dims block,
                    const gpu::Arg* args, size_t count) {
  auto& enc = mx::cu::get_command_encoder(stream_);
  enc.device().make_current();
  CUfunction f = function(enc.device().cuda_device(), name);
  std::vector<void*> pointers(count, nullptr), params(count, nullptr);
  for (size_t i = 0; i < count; ++i) {
    if (const gpu::array* a = args[i].buffer) {
      // empty arrays may have no buffer at all
      if (a->data_size() != 0 && a->buffer().ptr() != nullptr) {
        pointers[i] = mx::gpu_ptr<void>(*a);
      }
      args[i].written ? enc.set_output_array(*a) : enc.set_input_array(*a);
      params[i] = &pointers[i];
    } else {
      params[i] = const_cast<void*>(args[i].bytes);
    }
  }
  enc.add_kernel_node_raw(f, dim3(grid.x, grid.y, grid.z), dim3(block.x, block.y, block.z), {},
                          0, params.data());
}

} // namespace mlx_sparse::cuda

namespace mlx_sparse::gpu {

std::unique_ptr<Launch> backend_launch(mlx::core::Stream s) {
  return std::make_unique<cuda::Launch>(s);
}

} // namespace mlx_sparse::gpu
