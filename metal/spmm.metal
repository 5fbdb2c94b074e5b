// spmv and spmm on Metal: the algorithms of csrc/cuda/kernels/spmm.cu (see there), with
// SIMD-group shuffles for warp shuffles and Metal atomics for the scatter.
//   spmv_row_group_l{L}: a group of L lanes per row (32 / L rows per SIMD group), lanes
//     striding the row, a shuffle reduction; the threadgroup's rows stored side by side.
//   spmm_row_warp_w{W}: a SIMD group per row and tile of 32 * W dense columns.
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

constant constexpr int kSpmvBlock = kBlock; // threads per group (gpu/core/sizes.h, as the host launches)

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
  constexpr int64_t kChunk = kSpmvChunk;
  const int64_t e0 = int64_t(group.x) * kChunk;
  if (e0 >= a.nnz || a.m <= 0) { // the whole group leaves: no barrier is skipped by part of it
    return;
  }
  const int64_t e1 = e0 + kChunk < a.nnz ? e0 + kChunk : a.nnz;
  const int64_t b = group.y;
  device const I* perm = use_perm ? perm_buf : nullptr;
  device const T* vb = vals + b * a.data_stride;
  device const T* xb = x + b * a.b_stride;
  device atomic_float* yb = y + b * a.out_stride;
  const Range span = entry_span(indptr, a.m, a.nnz); // entries outside belong to no row
  for (int i = 0; i < kSpmvPerThread; ++i) {
    I c;
    float v;
    load_entry(cols, vb, perm, e0 + i * kSpmvBlock + tid, span.start,
               e1 < span.end ? e1 : span.end, a.n, c, v);
    prod[i * kSpmvBlock + tid] = a.n > 0 ? v * to_float(xb[static_cast<int64_t>(c)]) : 0.0f;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  // rows from the one holding e0 to the one holding e1 (the next chunk's first; its share
  // here is empty) or the last row
  const int64_t r0 = static_cast<int64_t>(chunk_row[group.x]);
  const int64_t r1 = e1 < a.nnz ? static_cast<int64_t>(chunk_row[group.x + 1]) : a.m - 1;
  for (int64_t r = r0 + tid; r <= r1; r += kSpmvBlock) {
    const Range rr = row_range(indptr, r, a.nnz);
    const int64_t rs = rr.start, re = rr.end;
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

// acc += v_j * B[c_j, columns of this lane] for the group's entries j in [j0, j1), whose
// (column, value) pairs lane j holds in (c, v) (see load_entry): broadcast by shuffles, W
// FMAs per lane each, eight entries at a time in straight code (as on CUDA).
template <int W, typename T, typename I>
inline void axpy_entries(I c, float v, int j0, int j1, device const T* Bb, int64_t c0,
                         int width, constant ProductArgs& a, thread float* acc) {
  constexpr int kGroup = 8;
  if (a.n == 0 || a.k == 0) {
    return;
  }
  int j = j0;
  for (; j + kGroup <= j1; j += kGroup) {
    int64_t cj[kGroup];
    float vj[kGroup];
    for (int u = 0; u < kGroup; ++u) {
      cj[u] = static_cast<int64_t>(shuffle(c, ushort(j + u)));
      vj[u] = shuffle(v, ushort(j + u));
    }
    for (int u = 0; u < kGroup; ++u) {
      axpy_columns<W>(vj[u], Bb + cj[u] * a.k, c0, width, a.k, acc);
    }
  }
  for (; j < j1; ++j) {
    const int64_t cj = static_cast<int64_t>(shuffle(c, ushort(j)));
    axpy_columns<W>(shuffle(v, ushort(j)), Bb + cj * a.k, c0, width, a.k, acc);
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
  constexpr int64_t kChunk = kSpmmChunk;
  const int64_t chunk = int64_t(group.x) * (group_size.x / kSimd) + simd;
  const int64_t e0 = chunk * kChunk;
  if (e0 >= a.nnz || a.m <= 0) {
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
  const Range span = entry_span(indptr, a.m, a.nnz); // entries outside add nothing
  int64_t row = static_cast<int64_t>(chunk_row[chunk]);
  Range rr = row_range(indptr, row, a.nnz);
  int64_t rs = rr.start, re = rr.end;
  float acc[W] = {};
  for (int64_t base = e0; base < e1; base += kSimd) {
    I c;
    float v;
    load_entry(cols, vb, perm, base + lane, span.start, e1 < span.end ? e1 : span.end, a.n, c, v);
    const int count = e1 - base < kSimd ? int(e1 - base) : kSimd;
    for (int j = 0; j < count;) {
      while (base + j >= re && row + 1 < a.m) { // the row ended: flush it, take the next
        flush_row<W>(ob + row * a.k, c0, width, rs >= e0, acc);
        rr = row_range(indptr, ++row, a.nnz);
        rs = rr.start;
        re = rr.end;
      }
      // the entries of this row among the 32, with no row check in the loop
      const int stop = re - base > j && re - base < count ? int(re - base) : count;
      axpy_entries<W>(c, v, j, stop, Bb, c0, width, a, acc);
      j = stop;
    }
  }
  flush_row<W>(ob + row * a.k, c0, width, rs >= e0 && re <= e1, acc);
}

template <int L, typename T, typename I>
[[kernel]] void spmv_row_group(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* x [[buffer(4)]], device T* y [[buffer(5)]],
    constant ProductArgs& a [[buffer(6)]], constant int& use_perm [[buffer(7)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]]) {
  threadgroup float sums[kSpmvBlock];
  const int64_t first = int64_t(group.x) * (kSpmvBlock / L); // groups of kSpmvBlock threads
  const int64_t row = first + tid / L;
  const int lane = int(tid) % L;
  const int64_t b = group.y;
  device const I* perm = use_perm ? perm_buf : nullptr;
  float acc = 0.0f;
  if (row < a.m) { // no early return: the whole group takes part in the reduction and store
    const Range r = row_range(indptr, row, a.nnz);
    acc = spmv_partial(cols, vals + b * a.data_stride, perm, x + b * a.b_stride, r.start, r.end,
                       lane, L, a.n);
  }
  acc = group_sum(acc, L);
  // the group's sums leave through threadgroup memory, so its rows are stored side by side
  if (lane == 0) {
    sums[tid / L] = acc;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid < uint(kSpmvBlock / L) && first + tid < a.m) {
    y[b * a.out_stride + first + tid] = from_float<T>(sums[tid]);
  }
}

template <int W, typename T, typename I>
[[kernel]] void spmm_row_warp(
    device const I* indptr [[buffer(0)]], device const I* cols [[buffer(1)]],
    device const T* vals [[buffer(2)]], device const I* perm_buf [[buffer(3)]],
    device const T* B [[buffer(4)]], device T* out [[buffer(5)]],
    constant ProductArgs& a [[buffer(6)]], constant int& use_perm [[buffer(7)]],
    uint3 group [[threadgroup_position_in_grid]], uint3 group_size [[threads_per_threadgroup]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(group.x) * (group_size.x / kSimd) + simd;
  if (row >= a.m) { // the whole SIMD group leaves together
    return;
  }
  const int64_t c0 = (int64_t(group.y) * kSimd + lane) * W;
  const int width = int(c0 >= a.k ? 0 : (a.k - c0 < W ? a.k - c0 : W));
  const int64_t b = group.z;
  device const I* perm = use_perm ? perm_buf : nullptr;
  device const T* vb = vals + b * a.data_stride;
  device const T* Bb = B + b * a.b_stride;
  const Range r = row_range(indptr, row, a.nnz);
  float acc[W] = {};
  for (int64_t base = r.start; base < r.end; base += kSimd) {
    I c;
    float v;
    load_entry(cols, vb, perm, base + lane, r.start, r.end, a.n, c, v);
    const int count = r.end - base < kSimd ? int(r.end - base) : kSimd;
    axpy_entries<W>(c, v, 0, count, Bb, c0, width, a, acc);
  }
  device T* orow = out + b * a.out_stride + row * a.k;
  for (int j = 0; j < width; ++j) {
    orow[c0 + j] = from_float<T>(acc[j]);
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

#define MS_SPMM_NNZ_SPLIT(W, T, tn, I, in_) \
  instantiate_kernel("spmm_nnz_split_w" #W "_" #tn "_" #in_, spmm_nnz_split, W, T, I)

#define MS_SPMV_ROW_GROUP(L, T, tn, I, in_) \
  instantiate_kernel("spmv_row_group_l" #L "_" #tn "_" #in_, spmv_row_group, L, T, I)

#define MS_SPMM_ROW_WARP(W, T, tn, I, in_) \
  instantiate_kernel("spmm_row_warp_w" #W "_" #tn "_" #in_, spmm_row_warp, W, T, I)

#define MS_PRODUCTS(T, tn, I, in_)                                                            \
  MS_SPMV_ROW_GROUP(1, T, tn, I, in_)                                                         \
  MS_SPMV_ROW_GROUP(2, T, tn, I, in_)                                                         \
  MS_SPMV_ROW_GROUP(4, T, tn, I, in_)                                                         \
  MS_SPMV_ROW_GROUP(8, T, tn, I, in_)                                                         \
  MS_SPMV_ROW_GROUP(16, T, tn, I, in_)                                                        \
  MS_SPMV_ROW_GROUP(32, T, tn, I, in_)                                                        \
  MS_SPMM_ROW_WARP(1, T, tn, I, in_)                                                          \
  MS_SPMM_ROW_WARP(2, T, tn, I, in_)                                                          \
  MS_SPMM_ROW_WARP(4, T, tn, I, in_)                                                          \
  instantiate_kernel("spmv_nnz_split_" #tn "_" #in_, spmv_nnz_split, T, I)                    \
  MS_SPMM_NNZ_SPLIT(1, T, tn, I, in_)                                                         \
  MS_SPMM_NNZ_SPLIT(2, T, tn, I, in_)                                                         \
  MS_SPMM_NNZ_SPLIT(4, T, tn, I, in_)                                                         \
  instantiate_kernel("spmm_scatter_" #tn "_" #in_, spmm_scatter, T, I)
MS_FOR_TYPES(MS_PRODUCTS)

// chunk_rows: table[c] = the row holding entry c * chunk (row 0 before the first row, the
// last row after it), so a chunk's SIMD group or threadgroup starts without a search; a
// thread per chunk.
template <typename I>
[[kernel]] void chunk_rows(
    device const I* indptr [[buffer(0)]], device I* table [[buffer(1)]],
    constant int64_t& m [[buffer(2)]], constant int64_t& nnz [[buffer(3)]],
    constant int64_t& chunk [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint3 grid [[threads_per_grid]]) {
  const int64_t chunks = (nnz + chunk - 1) / chunk;
  for (int64_t c = gid.x; c < chunks; c += grid.x) {
    table[c] = static_cast<I>(m > 0 ? row_of_entry(indptr, m, c * chunk) : 0);
  }
}

#define MS_CHUNK_ROWS(I, in_) instantiate_kernel("chunk_rows_" #in_, chunk_rows, I)
MS_FOR_INDEX_TYPES(MS_CHUNK_ROWS)
