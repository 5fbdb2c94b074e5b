// Where one input pixel lands in convolve2d's output, shared by the symbolic phase (which
// marks the pixels) and the numeric kernel (which adds into them).
#pragma once

#include <algorithm>
#include <cstdint>

#include "params.h"

namespace mlx_sparse::cpu {

// Kernel rows up to this wide take vector multiply-adds in the numeric kernel: its rows are
// padded to a multiple of it, and each accumulator has this much slack at its end.
constexpr int64_t kConvLanes = 16;

inline int64_t conv_row_stride(int64_t kw) {
  return (kw + kConvLanes - 1) / kConvLanes * kConvLanes;
}

// Pixel (y, x) of an input plane reaches output pixel (y - top + a, x - left + b) for each
// kernel entry (a, b) that keeps it inside. Calls run(a, offset, b0, b1) per kernel row a:
// the reached pixels are plane positions offset + b for b in [b0, b1), contiguous.
template <typename F>
inline void each_run(const Conv2dGeometry& g, int64_t y, int64_t x, F&& run) {
  const int64_t b0 = std::max<int64_t>(0, g.left - x);
  const int64_t b1 = std::min<int64_t>(g.kw, g.w_out + g.left - x);
  const int64_t a0 = std::max<int64_t>(0, g.top - y);
  const int64_t a1 = std::min<int64_t>(g.kh, g.h_out + g.top - y);
  if (b0 >= b1) {
    return;
  }
  for (int64_t a = a0; a < a1; ++a) {
    run(a, (y - g.top + a) * g.w_out + x - g.left, b0, b1);
  }
}

// Splits a stored column of an image row into (channel, y, x). Divisions by multiplying
// with a rounded reciprocal and one correction step: an int64 division per stored pixel
// cost more than the rest of the symbolic phase.
class Pixels {
 public:
  explicit Pixels(const Conv2dGeometry& g)
      : plane_(g.h * g.w), w_(g.w), n_(g.c_in * g.h * g.w),
        inv_plane_(1.0 / static_cast<double>(plane_)), inv_w_(1.0 / static_cast<double>(w_)) {}

  // Calls pixel(channel, y, x); columns outside the c_in planes are skipped (the CSR rule).
  template <typename I, typename F>
  void with(I col, F&& pixel) const {
    const int64_t c = static_cast<int64_t>(col);
    if (c < 0 || c >= n_) {
      return;
    }
    const int64_t i = quotient(c, plane_, inv_plane_), yx = c - i * plane_;
    const int64_t y = quotient(yx, w_, inv_w_);
    pixel(i, y, yx - y * w_);
  }

 private:
  static int64_t quotient(int64_t a, int64_t b, double inv) {
    int64_t q = static_cast<int64_t>(static_cast<double>(a) * inv);
    q -= q * b > a;
    q += (q + 1) * b <= a;
    return q;
  }
  int64_t plane_, w_, n_;
  double inv_plane_, inv_w_;
};

} // namespace mlx_sparse::cpu
