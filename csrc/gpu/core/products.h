// Per-thread pieces of the products (spmv, spmm, sddmm), shared by CUDA and Metal.
// Each returns a partial result for one lane of a group; the backend reduces across lanes
// with its own SIMD collectives.
#pragma once

#include "gpu/core/csr.h"

namespace mlx_sparse::gpu {

// Value of entry p, read through perm when the structure walked is A^T's (perm is a
// permutation of [0, nnz) when it comes from csr_transpose).
template <typename T, typename I>
MS_FN float entry_value(MS_GLOBAL const T* vals, MS_GLOBAL const I* perm, int64_t p) {
  return to_float(perm ? vals[static_cast<int64_t>(perm[p])] : vals[p]);
}

// Entry p of a product as (column, value), or (0, 0) when p is outside [begin, end) (the
// entries rows hold) or its column is out of range: the inner loops then run without
// branches, so unrolled iterations issue their loads together (callers skip the loops when
// n == 0, where column 0 does not exist).
template <typename T, typename I>
MS_FN void load_entry(MS_GLOBAL const I* cols, MS_GLOBAL const T* vals, MS_GLOBAL const I* perm,
                      int64_t p, int64_t begin, int64_t end, int64_t n, MS_THREAD I& c,
                      MS_THREAD float& v) {
  c = I(0);
  v = 0.0f;
  if (begin <= p && p < end) {
    const I col = cols[p];
    if (in_range(static_cast<int64_t>(col), n)) {
      c = col;
      v = entry_value(vals, perm, p);
    }
  }
}

// spmv: this lane's share of sum_p vals[p] * x[cols[p]] over p in [start, end), lanes apart.
// With perm (walking A^T's structure), entry p's value is vals[perm[p]].
template <typename T, typename I>
MS_FN float spmv_partial(MS_GLOBAL const I* cols, MS_GLOBAL const T* vals,
                         MS_GLOBAL const I* perm, MS_GLOBAL const T* x, int64_t start,
                         int64_t end, int lane, int lanes, int64_t n) {
  float acc = 0.0f;
  if (n == 0) {
    return acc;
  }
#pragma unroll 4
  for (int64_t p = start + lane; p < end; p += lanes) {
    I c;
    float v;
    load_entry(cols, vals, perm, p, start, end, n, c, v);
    acc += v * to_float(x[static_cast<int64_t>(c)]);
  }
  return acc;
}

// spmm: acc[0..W) += a * b_row[c0 .. c0 + W), the inner step of every SpMM kernel
// (W columns per lane; `width` <= W of them are real at the right edge, where the loads
// repeat column k - 1 and add nothing). Branch-free, so that it unrolls into straight code.
template <int W, typename T>
MS_FN void axpy_columns(float a, MS_GLOBAL const T* b_row, int64_t c0, int width, int64_t k,
                        MS_THREAD float* acc) {
#pragma unroll
  for (int j = 0; j < W; ++j) {
    const int64_t col = c0 + j < k ? c0 + j : k - 1;
    acc[j] += (j < width ? a : 0.0f) * to_float(b_row[col]);
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
