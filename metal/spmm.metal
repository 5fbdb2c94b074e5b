// spmv and spmm on Metal: the algorithms of csrc/cuda/kernels/spmm.cu (see there), with
// SIMD-group shuffles for warp shuffles and Metal atomics for the scatter.
//   spmv_nnz_split: a threadgroup per chunk of 1024 consecutive entries; products staged in
//     threadgroup memory, then a thread per row of the chunk sums its part.
//   spmm_nnz_split_w{1,2,4}: a SIMD group per chunk of 128 consecutive entries and tile of
//     32 * W dense columns; the chunk's (column, value) pairs are loaded 32 at a time and
//     broadcast by shuffles. Rows shared between chunks are added atomically (both kernels
//     write a zero-filled float32 output).
//   chunk_rows: table[c] = the row holding entry c * chunk, where the two above start.
//   spmm_scatter: A^T @ B for narrow B, atomic float adds into a zero-filled float32 out.
// perm is always bound (Metal has no null buffers); use_perm says whether to read through it.
// Launched with dispatch_threadgroups (full groups, as on CUDA), so a SIMD group's lanes
// take part in its shuffles together.
#include "common.h"

constant constexpr int kSpmvBlock = 256;   // threads per group (as launched by spmm_metal.cpp)
constant constexpr int kSpmvPerThread = 4; // entries each thread stages

// A group per chunk of kSpmvBlock * kSpmvPerThread consecutive entries: the products
// v * x[c] are staged in threadgroup memory, then a thread per row of the chunk sums its
// part. Rows shared with other chunks are added atomically into the zero-filled float32 y.
template <typename T, typename I>
[[kernel]] void spmv_nnz_split(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* x [[buffer(4)]], device atomic_float* y [[buffer(5)]],
    device const I* chunk_row [[buffer(6)]], constant ProductArgs& a [[buffer(7)]],
    constant int& use_perm [[buffer(8)]], uint3 group [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]]) {
  threadgroup float prod[kSpmvBlock * kSpmvPerThread];
  constexpr int64_t kChunk = kSpmvBlock * kSpmvPerThread;
  const int64_t e0 = int64_t(group.x) * kChunk;
  if (e0 >= a.nnz) { // the whole group leaves: no barrier is skipped by part of it
    return;
  }
  const int64_t e1 = e0 + kChunk < a.nnz ? e0 + kChunk : a.nnz;
  const int64_t b = group.y;
  device const I* perm = use_perm ? perm_buf : nullptr;
  device const T* vb = vals + b * a.data_stride;
  device const T* xb = x + b * a.b_stride;
  device atomic_float* yb = y + b * a.out_stride;
  for (int i = 0; i < kSpmvPerThread; ++i) {
    const int64_t p = e0 + i * kSpmvBlock + tid;
    float v = 0.0f;
    if (p < e1) {
      const int64_t c = static_cast<int64_t>(cols[p]);
      if (in_range(c, a.n)) {
        v = entry_value(vb, perm, p) * to_float(xb[c]);
      }
    }
    prod[i * kSpmvBlock + tid] = v;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  // rows from the one holding e0 to the one holding e1 (the next chunk's first; its share
  // here is empty) or the last row
  const int64_t r0 = static_cast<int64_t>(chunk_row[group.x]);
  const int64_t r1 = e1 < a.nnz ? static_cast<int64_t>(chunk_row[group.x + 1]) : a.m - 1;
  for (int64_t r = r0 + tid; r <= r1; r += kSpmvBlock) {
    const int64_t rs = static_cast<int64_t>(indptr[r]), re = static_cast<int64_t>(indptr[r + 1]);
    const int64_t s = rs > e0 ? rs : e0, e = re < e1 ? re : e1;
    float sum = 0.0f;
    for (int64_t q = s; q < e; ++q) {
      sum += prod[q - e0];
    }
    if (rs >= e0 && re <= e1) {
      atomic_store_explicit(yb + r, sum, memory_order_relaxed);
    } else {
      atomic_fetch_add_explicit(yb + r, sum, memory_order_relaxed);
    }
  }
}

// The row whose accumulator a nnz_split SIMD group flushes: stored when the whole row lies
// in the group's chunk, added atomically when other chunks share it (out is zero-filled).
template <int W>
inline void flush_row(device atomic_float* orow, int64_t c0, int width, bool whole,
                      thread float* acc) {
  for (int j = 0; j < width; ++j) {
    if (whole) {
      atomic_store_explicit(orow + c0 + j, acc[j], memory_order_relaxed);
    } else {
      atomic_fetch_add_explicit(orow + c0 + j, acc[j], memory_order_relaxed);
    }
    acc[j] = 0.0f;
  }
}

// A SIMD group per chunk of kChunk consecutive entries (whatever rows they belong to) and
// tile of 32 * W columns. row, rs and re move alike in every lane, so the shuffles stay
// uniform across the SIMD group.
template <int W, typename T, typename I>
[[kernel]] void spmm_nnz_split(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* B [[buffer(4)]], device atomic_float* out [[buffer(5)]],
    device const I* chunk_row [[buffer(6)]], constant ProductArgs& a [[buffer(7)]],
    constant int& use_perm [[buffer(8)]], uint3 group [[threadgroup_position_in_grid]],
    uint3 group_size [[threads_per_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  constexpr int64_t kChunk = 4 * kSimd;
  const int64_t chunk = int64_t(group.x) * (group_size.x / kSimd) + simd;
  const int64_t e0 = chunk * kChunk;
  if (e0 >= a.nnz) {
    return;
  }
  const int64_t e1 = e0 + kChunk < a.nnz ? e0 + kChunk : a.nnz;
  const int64_t c0 = (int64_t(group.y) * kSimd + lane) * W;
  const int64_t b = group.z;
  const int width = int(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  device const I* perm = use_perm ? perm_buf : nullptr;
  device const T* vb = vals + b * a.data_stride;
  device const T* Bb = B + b * a.b_stride;
  device atomic_float* ob = out + b * a.out_stride;
  int64_t row = static_cast<int64_t>(chunk_row[chunk]);
  int64_t rs = static_cast<int64_t>(indptr[row]), re = static_cast<int64_t>(indptr[row + 1]);
  float acc[W] = {};
  for (int64_t base = e0; base < e1; base += kSimd) {
    const int64_t p = base + lane;
    int64_t c = -1;
    float v = 0.0f;
    if (p < e1) {
      c = static_cast<int64_t>(cols[p]);
      v = entry_value(vb, perm, p);
    }
    const int count = e1 - base < kSimd ? int(e1 - base) : kSimd;
    for (int j = 0; j < count; ++j) {
      while (base + j >= re && row + 1 < a.m) { // the row ended: flush it, take the next
        flush_row<W>(ob + row * a.k, c0, width, rs >= e0, acc);
        ++row;
        rs = re;
        re = static_cast<int64_t>(indptr[row + 1]);
      }
      const int64_t cj = shuffle(c, ushort(j));
      const float vj = shuffle(v, ushort(j));
      if (width > 0 && in_range(cj, a.n)) {
        axpy_columns<W>(vj, Bb + cj * a.k, c0, width, acc);
      }
    }
  }
  flush_row<W>(ob + row * a.k, c0, width, rs >= e0 && re <= e1, acc);
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

#define MS_SPMM_NNZ_SPLIT(W, T, tn, I, in_) \
  instantiate_kernel("spmm_nnz_split_w" #W "_" #tn "_" #in_, spmm_nnz_split, W, T, I)

#define MS_PRODUCTS(T, tn, I, in_)                                                            \
  instantiate_kernel("spmv_nnz_split_" #tn "_" #in_, spmv_nnz_split, T, I)                    \
  MS_SPMM_NNZ_SPLIT(1, T, tn, I, in_)                                                         \
  MS_SPMM_NNZ_SPLIT(2, T, tn, I, in_)                                                         \
  MS_SPMM_NNZ_SPLIT(4, T, tn, I, in_)                                                         \
  instantiate_kernel("spmm_scatter_" #tn "_" #in_, spmm_scatter, T, I)
MS_FOR_TYPES(MS_PRODUCTS)

// chunk_rows: table[c] = the row holding entry c * chunk, so a chunk's SIMD group or
// threadgroup starts without a search; a thread per row writes the chunks that start in it.
template <typename I>
[[kernel]] void chunk_rows(
    device const I* indptr [[buffer(0)]], device I* table [[buffer(1)]],
    constant int64_t& m [[buffer(2)]], constant int64_t& nnz [[buffer(3)]],
    constant int64_t& chunk [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  for (int64_t r = gid.x; r < m; r += grid.x) {
    const Range rr = row_range(indptr, r, nnz);
    for (int64_t c = (rr.start + chunk - 1) / chunk; c * chunk < rr.end; ++c) {
      table[c] = static_cast<I>(r);
    }
  }
}

#define MS_CHUNK_ROWS(I, in_) instantiate_kernel("chunk_rows_" #in_, chunk_rows, I)
MS_FOR_INDEX_TYPES(MS_CHUNK_ROWS)
