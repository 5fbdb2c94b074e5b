// contiguous_copy on the CPU: a strided array made row-major, as [outer..., R, C] in tasks of
// kTile rows. Rows whose last axis is contiguous are copied whole, broadcast rows filled, and
// any other layout (a transpose) goes through kTile x kTile tiles, so both the reads and the
// writes stay within a few cache lines: MLX's element-wise copy of a transposed (64, 16384)
// float32 array takes ~3 ms here, about 10x a tiled one.
#include <algorithm>
#include <cstring>

#include "cpu/kernels/common.h"
#include "cpu/kernels/vec.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

constexpr int64_t kTile = 32, kTaskRows = 256;

// 4-byte elements, one register per row of an L x L block (L = 8 with AVX2, 4 without).
constexpr int kL = kVecBytes / 4;
typedef uint32_t u32v __attribute__((vector_size(kVecBytes)));

inline u32v load_u32(const uint32_t* p) {
  u32v v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

// Transposes the L x L block whose column c is src[c * sc .. + L) into rows of dst (stride
// ld): register shuffles, where the element loop's strided scalar stores ran ~3x a memcpy.
inline void transpose_block(const uint32_t* src, int64_t sc, uint32_t* dst, int64_t ld) {
  u32v r[kL];
  for (int i = 0; i < kL; ++i) {
    r[i] = load_u32(src + i * sc);
  }
#if defined(__AVX2__)
  u32v t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[i + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#else
  const u32v t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
  const u32v t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  const u32v t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
  const u32v t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
#endif
  for (int i = 0; i < kL; ++i) {
    __builtin_memcpy(dst + i * ld, &r[i], sizeof(r[i]));
  }
}

// Rows [r0, r1) of a transposed 4-byte array (src[r + c * sc]) into dst (rows of cols):
// L x L register blocks, each block row of dst written whole before the next, and scalar edges.
void transpose_rows(const uint32_t* src, int64_t sc, uint32_t* dst, int64_t r0, int64_t r1,
                    int64_t cols) {
  const int64_t r_end = r0 + (r1 - r0) / kL * kL, c_end = cols / kL * kL;
  for (int64_t r = r0; r < r_end; r += kL) {
    for (int64_t c = 0; c < c_end; c += kL) {
      transpose_block(src + r + c * sc, sc, dst + r * cols + c, cols);
    }
  }
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = r < r_end ? c_end : 0; c < cols; ++c) {
      dst[r * cols + c] = src[r + c * sc];
    }
  }
}

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
  // The register-block transpose streams its reads best in long row ranges (~2x at 256 rows
  // a task against 32), yet keeps 8 tasks or more; the other layouts keep cache-sized tiles.
  const int64_t task_rows = sizeof(E) == 4 && sr == 1 && sc > 1
                                ? std::clamp(rows / 8 / kL * kL, int64_t{kL}, kTaskRows)
                                : kTile;
  const int64_t row_tiles = (rows + task_rows - 1) / task_rows;
  auto task = [&](int64_t t) {
    const int64_t o = t / row_tiles, r0 = (t % row_tiles) * task_rows;
    const int64_t r1 = std::min(rows, r0 + task_rows);
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
    } else if (sizeof(E) == 4 && sr == 1) {
      transpose_rows(reinterpret_cast<const uint32_t*>(src), sc, reinterpret_cast<uint32_t*>(dst),
                     r0, r1, cols);
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
