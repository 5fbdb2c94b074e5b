// Host-side helpers shared by the CUDA and Metal eval_gpu files: kernel names, launch
// geometry (groups of kBlock threads, SIMD groups of 32 on both) and batch strides.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gpu/core/params.h"
#include "mlx/array.h"
#include "mlx/dtype.h"

namespace mlx_sparse::gpu {

constexpr unsigned kBlock = 256;

inline std::string value_name(const char* op, mlx::core::Dtype t) {
  if (t == mlx::core::float32) return "float32";
  if (t == mlx::core::float16) return "float16";
  if (t == mlx::core::bfloat16) return "bfloat16";
  throw std::invalid_argument(std::string("[") + op +
                              "] float64 is not supported on the GPU; use the CPU "
                              "(stream=mx.cpu) or float32.");
}

inline std::string index_name(mlx::core::Dtype t) {
  return t == mlx::core::int64 ? "int64" : "int32";
}

// <op>_<variant>_<value dtype>_<index dtype>
inline std::string kernel_name(const char* op, const std::string& variant,
                               mlx::core::Dtype value, mlx::core::Dtype index) {
  return variant + "_" + value_name(op, value) + "_" + index_name(index);
}

// Blocks of kBlock threads covering `threads` (grid-stride kernels may get fewer).
inline unsigned blocks_for(int64_t threads) {
  const int64_t b = (threads + kBlock - 1) / kBlock;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 0x7fffffffLL ? 0x7fffffffLL : b));
}

// A grid for grid-stride kernels: enough blocks to fill the GPU, no more.
inline unsigned stride_blocks(int64_t threads) {
  const unsigned b = blocks_for(threads);
  return b > 8192 ? 8192 : b;
}

// Elements between batch entries of an operand whose core part has `core` elements:
// 0 when the operand is shared by the whole batch.
inline int64_t batch_stride(const mlx::core::array& a, int64_t core, int64_t batch) {
  return batch > 1 && static_cast<int64_t>(a.size()) == core ? 0 : core;
}

// sddmm lanes per entry: enough for k / 4 columns each, 1 to 32.
inline int64_t sddmm_lanes(int64_t k) {
  int64_t lanes = 1;
  while (lanes < 32 && lanes * 4 < k) {
    lanes <<= 1;
  }
  return lanes;
}

} // namespace mlx_sparse::gpu
