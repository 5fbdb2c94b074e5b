// contiguous_copy on the CPU: a strided array made row-major, as [outer..., R, C] in tasks of
// kTile rows. Rows whose last axis is contiguous are copied whole, broadcast rows filled, and
// any other layout (a transpose) goes through kTile x kTile tiles, so both the reads and the
// writes stay within a few cache lines: MLX's element-wise copy of a transposed (64, 16384)
// float32 array takes ~3 ms here, about 10x a tiled one.
#include <algorithm>
#include <cstring>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

constexpr int64_t kTile = 32;

template <typename E>
void copy_impl(const CopyParams& p) {
  const int nd = p.ndim;
  const int64_t cols = nd >= 1 ? p.shape[nd - 1] : 1, sc = nd >= 1 ? p.strides[nd - 1] : 0;
  const int64_t rows = nd >= 2 ? p.shape[nd - 2] : 1, sr = nd >= 2 ? p.strides[nd - 2] : 0;
  int64_t outer = 1;
  for (int d = 0; d + 2 < nd; ++d) {
    outer *= p.shape[d];
  }
  const E* in = static_cast<const E*>(p.in);
  E* out = static_cast<E*>(p.out);
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  auto task = [&](int64_t t) {
    const int64_t o = t / row_tiles, r0 = (t % row_tiles) * kTile;
    const int64_t r1 = std::min(rows, r0 + kTile);
    int64_t offset = 0;
    for (int64_t d = nd - 3, rest = o; d >= 0; --d) {
      offset += (rest % p.shape[d]) * p.strides[d];
      rest /= p.shape[d];
    }
    const E* src = in + offset;
    E* dst = out + o * rows * cols;
    if (sc == 1) {
      for (int64_t r = r0; r < r1; ++r) {
        std::memcpy(dst + r * cols, src + r * sr, static_cast<size_t>(cols) * sizeof(E));
      }
    } else if (sc == 0) {
      for (int64_t r = r0; r < r1; ++r) {
        std::fill(dst + r * cols, dst + (r + 1) * cols, src[r * sr]);
      }
    } else {
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t c = c0; c < c1; ++c) {
          for (int64_t r = r0; r < r1; ++r) {
            dst[r * cols + c] = src[r * sr + c * sc];
          }
        }
      }
    }
  };
  const int64_t tasks = outer * row_tiles;
  if (outer * rows * cols * static_cast<int64_t>(sizeof(E)) < 4 * kSerialWork) {
    for (int64_t t = 0; t < tasks; ++t) {
      task(t);
    }
    return;
  }
  parallel_for(tasks, task);
}

} // namespace

void contiguous_copy(const CopyParams& p) noexcept {
  switch (p.elem_bytes) {
    case 1: copy_impl<uint8_t>(p); break;
    case 2: copy_impl<uint16_t>(p); break;
    case 4: copy_impl<uint32_t>(p); break;
    default: copy_impl<uint64_t>(p); break;
  }
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
