// Per-thread pieces of the products (spmv, spmm, sddmm), shared by CUDA and Metal.
// Each returns a partial result for one lane of a group; the backend reduces across lanes
// with its own SIMD collectives.
#pragma once

#include "gpu/core/csr.h"

namespace mlx_sparse::gpu {

// Value of entry p, read through perm when the structure walked is A^T's.
template <typename T, typename I>
MS_FN float entry_value(MS_GLOBAL const T* vals, MS_GLOBAL const I* perm, int64_t p) {
  return to_float(perm ? vals[static_cast<int64_t>(perm[p])] : vals[p]);
}

// spmv: this lane's share of sum_p vals[p] * x[cols[p]] over p in [start, end), lanes apart.
// With perm (walking A^T's structure), entry p's value is vals[perm[p]].
template <typename T, typename I>
MS_FN float spmv_partial(MS_GLOBAL const I* cols, MS_GLOBAL const T* vals,
                         MS_GLOBAL const I* perm, MS_GLOBAL const T* x, int64_t start,
                         int64_t end, int lane, int lanes, int64_t n) {
  float acc = 0.0f;
  for (int64_t p = start + lane; p < end; p += lanes) {
    const int64_t c = static_cast<int64_t>(cols[p]);
    if (in_range(c, n)) {
      acc += entry_value(vals, perm, p) * to_float(x[c]);
    }
  }
  return acc;
}

// spmm: acc[0..W) += a * b_row[c0 .. c0 + W), the inner step of every SpMM kernel
// (W columns per lane; `width` <= W of them are real at the right edge).
template <int W, typename T>
MS_FN void axpy_columns(float a, MS_GLOBAL const T* b_row, int64_t c0, int width,
                        MS_THREAD float* acc) {
  if (width == W) {
#pragma unroll
    for (int j = 0; j < W; ++j) {
      acc[j] += a * to_float(b_row[c0 + j]);
    }
  } else {
    for (int j = 0; j < width; ++j) {
      acc[j] += a * to_float(b_row[c0 + j]);
    }
  }
}

// sddmm: this lane's share of <g_row, b_row> over k columns, lanes apart in blocks of W.
template <int W, typename T>
MS_FN float dot_partial(MS_GLOBAL const T* g_row, MS_GLOBAL const T* b_row, int64_t k,
                        int lane, int lanes) {
  float acc = 0.0f;
  for (int64_t c = int64_t(lane) * W; c < k; c += int64_t(lanes) * W) {
    const int64_t width = k - c < W ? k - c : W;
    for (int j = 0; j < width; ++j) {
      acc += to_float(g_row[c + j]) * to_float(b_row[c + j]);
    }
  }
  return acc;
}

} // namespace mlx_sparse::gpu
