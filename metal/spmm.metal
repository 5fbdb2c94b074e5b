// spmv and spmm on Metal: the algorithms of csrc/cuda/kernels/spmm.cu (see there), with
// SIMD-group shuffles for warp shuffles and Metal atomics for the scatter.
//   spmv_vector_csr: `lanes` (1..32) consecutive threads per row, a shuffle reduction.
//   spmm_row_tile_w{1,2,4}: a SIMD group per row and tile of 32 * W dense columns; the
//     row's (column, value) pairs are loaded 32 at a time and broadcast by shuffles.
//   spmm_scatter: A^T @ B for narrow B, atomic float adds into a zero-filled float32 out.
// perm is always bound (Metal has no null buffers); use_perm says whether to read through it.
// Launched with dispatch_threadgroups (full groups, as on CUDA): every lane of a SIMD group
// takes part in its shuffles, past-the-end rows adding zeros.
#include "common.h"

template <typename T, typename I>
[[kernel]] void spmv_vector_csr(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* x [[buffer(4)]], device T* y [[buffer(5)]],
    constant ProductArgs& a [[buffer(6)]], constant int& lanes [[buffer(7)]],
    constant int& use_perm [[buffer(8)]], uint3 gid [[thread_position_in_grid]]) {
  const int64_t row = int64_t(gid.x) / lanes;
  const int lane = int(gid.x % uint(lanes));
  const int64_t b = gid.y;
  device const I* perm = use_perm ? perm_buf : nullptr;
  float acc = 0.0f;
  if (row < a.m) {
    const Range r = row_range(indptr, row, a.nnz);
    acc = spmv_partial(cols, vals + b * a.data_stride, perm, x + b * a.b_stride, r.start, r.end,
                       lane, lanes, a.n);
  }
  acc = group_sum(acc, lanes);
  if (lane == 0 && row < a.m) {
    y[b * a.out_stride + row] = from_float<T>(acc);
  }
}

template <int W, typename T, typename I>
[[kernel]] void spmm_row_tile(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* B [[buffer(4)]], device T* out [[buffer(5)]],
    constant ProductArgs& a [[buffer(6)]], constant int& use_perm [[buffer(7)]],
    uint3 group [[threadgroup_position_in_grid]], uint3 group_size [[threads_per_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(group.x) * (group_size.x / kSimd) + simd;
  const int64_t c0 = (int64_t(group.y) * kSimd + lane) * W;
  const int64_t b = group.z;
  const int width = int(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  device const I* perm = use_perm ? perm_buf : nullptr;
  device const T* vb = vals + b * a.data_stride;
  device const T* Bb = B + b * a.b_stride;
  float acc[W] = {};
  Range r{0, 0};
  if (row < a.m) {
    r = row_range(indptr, row, a.nnz);
  }
  for (int64_t base = r.start; base < r.end; base += kSimd) {
    const int64_t p = base + lane;
    int64_t c = -1;
    float v = 0.0f;
    if (p < r.end) {
      c = static_cast<int64_t>(cols[p]);
      v = entry_value(vb, perm, p);
    }
    const int count = r.end - base < kSimd ? int(r.end - base) : kSimd;
    for (int j = 0; j < count; ++j) {
      const int64_t cj = shuffle(c, ushort(j));
      const float vj = shuffle(v, ushort(j));
      if (width > 0 && in_range(cj, a.n)) {
        axpy_columns<W>(vj, Bb + cj * a.k, c0, width, acc);
      }
    }
  }
  if (row < a.m) {
    device T* orow = out + b * a.out_stride + row * a.k;
    for (int j = 0; j < width; ++j) {
      orow[c0 + j] = from_float<T>(acc[j]);
    }
  }
}

template <typename T, typename I>
[[kernel]] void spmm_scatter(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const T* B [[buffer(3)]],
    device atomic_float* out [[buffer(4)]], constant ProductArgs& a [[buffer(5)]],
    uint3 group [[threadgroup_position_in_grid]], uint3 group_size [[threads_per_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(group.x) * (group_size.x / kSimd) + simd;
  const int64_t b = group.y;
  if (row >= a.m) {
    return;
  }
  const Range r = row_range(indptr, row, a.nnz);
  device const T* vb = vals + b * a.data_stride;
  device const T* brow = B + b * a.b_stride + row * a.k;
  device atomic_float* ob = out + b * a.out_stride;
  for (int64_t p = r.start + lane; p < r.end; p += kSimd) {
    const int64_t c = static_cast<int64_t>(cols[p]);
    if (!in_range(c, a.n)) {
      continue;
    }
    const float v = to_float(vb[p]);
    for (int64_t j = 0; j < a.k; ++j) {
      atomic_fetch_add_explicit(ob + c * a.k + j, v * to_float(brow[j]), memory_order_relaxed);
    }
  }
}

#define MS_PRODUCTS(T, tn, I, in_)                                                            \
  instantiate_kernel("spmv_vector_csr_" #tn "_" #in_, spmv_vector_csr, T, I)                  \
  instantiate_kernel("spmm_row_tile_w1_" #tn "_" #in_, spmm_row_tile, 1, T, I)                \
  instantiate_kernel("spmm_row_tile_w2_" #tn "_" #in_, spmm_row_tile, 2, T, I)                \
  instantiate_kernel("spmm_row_tile_w4_" #tn "_" #in_, spmm_row_tile, 4, T, I)                \
  instantiate_kernel("spmm_scatter_" #tn "_" #in_, spmm_scatter, T, I)
MS_FOR_TYPES(MS_PRODUCTS)
