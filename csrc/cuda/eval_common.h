// Helpers shared by the eval_gpu files: kernel names, launch shapes and the float32
// accumulator that the atomic kernels add into.
#pragma once

#include <stdexcept>
#include <string>

#include "cuda/launch.h"
#include "gpu/core/params.h"
#include "mlx/dtype.h"

namespace mlx_sparse::cuda {

namespace mx = mlx::core;
using gpu::EntryArgs;
using gpu::ProductArgs;

constexpr unsigned kBlock = 256;

inline std::string value_name(const char* op, mx::Dtype t) {
  if (t == mx::float32) return "float32";
  if (t == mx::float16) return "float16";
  if (t == mx::bfloat16) return "bfloat16";
  throw std::invalid_argument(std::string("[") + op +
                              "] float64 is not supported on the GPU; use the CPU "
                              "(stream=mx.cpu) or float32.");
}

inline std::string index_name(mx::Dtype t) {
  return t == mx::int64 ? "int64" : "int32";
}

// <op>_<variant>_<value dtype>_<index dtype>
inline std::string kernel_name(const char* op, const std::string& variant, mx::Dtype value,
                               mx::Dtype index) {
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
inline int64_t batch_stride(const mx::array& a, int64_t core, int64_t batch) {
  return batch > 1 && static_cast<int64_t>(a.size()) == core ? 0 : core;
}

// A float32 buffer the atomic kernels add into, zero-filled: `out` itself when it is
// float32, otherwise a temporary converted into `out` by finish().
class Accumulator {
 public:
  Accumulator(Launch& l, mx::array& out) : l_(l), out_(out), acc_(out) {
    l_.allocate(out_);
    if (out_.dtype() != mx::float32) {
      acc_ = l_.temporary(out_.size(), mx::float32);
    }
    const int64_t n = out_.size();
    l_.kernel("fill_zero_float32", {stride_blocks(n)}, {kBlock}, {}, {acc_}, Launch::ptr(acc_), n);
  }
  const mx::array& array() const { return acc_; }
  void* ptr() const { return Launch::ptr(acc_); }
  void finish() {
    if (out_.dtype() == mx::float32) {
      return;
    }
    const int64_t n = out_.size();
    l_.kernel("from_float32_" + value_name("mlx_sparse", out_.dtype()), {stride_blocks(n)}, {kBlock},
              {acc_}, {out_}, Launch::ptr(acc_), Launch::ptr(out_), n);
  }

 private:
  Launch& l_;
  mx::array& out_;
  mx::array acc_;
};

} // namespace mlx_sparse::cuda
