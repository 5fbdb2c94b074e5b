// What several ops' GPU evaluations share: the zero-filled float32 accumulator of the atomic
// kernels, and the three-pass inclusive scan.
#pragma once

#include "gpu/host.h"
#include "gpu/launch.h"

namespace mlx_sparse::gpu {

namespace mx = mlx::core;

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

// Inclusive prefix sum of v[0, count) (int32 or int64) in place, in three parallel passes:
// per-block scans, an exclusive scan of the block totals, totals added back.
inline void inclusive_scan(Launch& l, mx::array& v, int64_t count) {
  const std::string it = index_name(v.dtype());
  const int64_t blocks = (count + kScanBlock - 1) / kScanBlock;
  mx::array totals = l.temporary(blocks, v.dtype());
  l.kernel("scan_blocks_" + it, {static_cast<unsigned>(blocks)}, {kScanBlock}, Out{v},
           Out{totals}, count);
  l.kernel("scan_totals_" + it, {1}, {kScanBlock}, Out{totals}, blocks);
  l.kernel("scan_add_" + it, {stride_blocks(count)}, {kBlock}, Out{v}, In{totals}, count);
}

} // namespace mlx_sparse::gpu
