// The float32 accumulator that the Metal atomic kernels add into (names and launch
// shapes come from gpu/host.h, shared with CUDA).
#pragma once

#include "gpu/host.h"
#include "metal/launch.h"

namespace mlx_sparse::metal {

namespace mx = mlx::core;
using namespace gpu;

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
    l_.kernel("fill_zero_float32", {stride_blocks(n)}, {kBlock}, Out{acc_}, n);
  }
  mx::array& array() { return acc_; }
  void finish() {
    if (out_.dtype() == mx::float32) {
      return;
    }
    const int64_t n = out_.size();
    l_.kernel("from_float32_" + value_name("mlx_sparse", out_.dtype()), {stride_blocks(n)},
              {kBlock}, In{acc_}, Out{out_}, n);
  }

 private:
  Launch& l_;
  mx::array& out_;
  mx::array acc_;
};

} // namespace mlx_sparse::metal
