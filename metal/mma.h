// simdgroup_matrix helpers shared by the Metal kernels that multiply tiles (flash_attention,
// bsr_spmm, bsr_sddmm): 8 x 8 float fragments read from threadgroup memory through
// thread_elements() at the layout MLX's steel kernels use, and operands staged as float.
#pragma once

#include <metal_simdgroup_matrix>

#include "common.h"

namespace mlx_sparse::gpu {

using Frag = simdgroup_matrix<float, 8, 8>;

// This lane's place in an 8 x 8 fragment: row, and the first of its two columns.
inline int frag_row(uint lane) {
  return int(((lane / 4) & 4) + (lane / 2) % 4);
}
inline int frag_col(uint lane) {
  return int(((lane / 4) & 2) * 2 + (lane % 2) * 2);
}

// The fragment at (row0, col0) of a row-major threadgroup matrix with `ld` columns.
inline Frag frag_load(threadgroup const float* m, int ld, int row0, int col0, uint lane) {
  Frag f;
  const int at = (row0 + frag_row(lane)) * ld + col0 + frag_col(lane);
  f.thread_elements()[0] = m[at];
  f.thread_elements()[1] = m[at + 1];
  return f;
}

// The same, of the matrix's transpose: element (r, c) is m[(col0 + c) * ld + row0 + r].
inline Frag frag_load_t(threadgroup const float* m, int ld, int row0, int col0, uint lane) {
  Frag f;
  const int at = (col0 + frag_col(lane)) * ld + row0 + frag_row(lane);
  f.thread_elements()[0] = m[at];
  f.thread_elements()[1] = m[at + ld];
  return f;
}

// dst[r][c] = src[r * ld + c0 + c] as float for `rows` rows and `cols` columns, 0 past `width`.
template <typename T>
inline void stage_rows(threadgroup float* dst, device const T* src, int64_t ld, int64_t c0,
                       int64_t width, int rows, int cols, uint tid, uint threads) {
  for (uint x = tid; x < uint(rows * cols); x += threads) {
    const int r = int(x) / cols, c = int(x) % cols;
    dst[x] = c0 + c < width ? to_float(src[r * ld + c0 + c]) : 0.0f;
  }
}

} // namespace mlx_sparse::gpu
