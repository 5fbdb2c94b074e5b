// The float32 accumulator that the atomic kernels add into (names and launch shapes come
// from gpu/host.h, shared with Metal).
#pragma once

#include "cuda/launch.h"
#include "gpu/host.h"

namespace mlx_sparse::cuda {

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

// Inclusive prefix sum of v[0, count) (int32 or int64) in place, in three parallel passes:
// per-block scans, an exclusive scan of the block totals, totals added back.
inline void inclusive_scan(Launch& l, mx::array& v, int64_t count) {
  const std::string it = index_name(v.dtype());
  const int64_t blocks = (count + kScanBlock - 1) / kScanBlock;
  mx::array totals = l.temporary(blocks, v.dtype());
  l.kernel("scan_blocks_" + it, {static_cast<unsigned>(blocks)}, {kScanBlock}, {v}, {v, totals},
           Launch::ptr(v), Launch::ptr(totals), count);
  l.kernel("scan_totals_" + it, {1}, {kScanBlock}, {totals}, {totals}, Launch::ptr(totals), blocks);
  l.kernel("scan_add_" + it, {stride_blocks(count)}, {kBlock}, {totals}, {v}, Launch::ptr(v),
           Launch::ptr(totals), count);
}

} // namespace mlx_sparse::cuda
