// spgemm (symbolic) on CUDA: C's canonical pattern, a warp per row of C with a hash table or
// a bitmap (gpu/core/spgemm.h). The host runs, with parallel scans between them:
//   spgemm_workspace: offsets[i + 1] = words of row i's accumulator in the global workspace
//     (0 when it fits in shared memory); scanned, offsets[m] sizes the workspace.
//   spgemm_count_hash: c_indptr[i + 1] = distinct columns of row i (the insertions that
//     stored a key); scanned, this is C's indptr.
//   spgemm_fill_hash: the same insertions, then the row's columns written into row i of
//     c_cols: a bitmap's in order (popcount prefix sums), a table's compacted (ballot +
//     popcount, in slot order) and sorted there (sort_segment).
// Count blocks hold kSpgemmWarps warps, each with kSpgemmSharedSlots slots of shared memory.
#include "common.cuh"
#include "gpu/core/spgemm.h"
#include "sort.cuh"

namespace mlx_sparse::gpu {

// A table in shared or global memory: CUDA's atomics reach both through one pointer.
struct HashSlots {
  unsigned* p;
};

__device__ __forceinline__ uint32_t claim_slot(HashSlots t, uint32_t slot, uint32_t key) {
  return atomicCAS(t.p + slot, kSpgemmEmpty, key);
}

__device__ __forceinline__ void mark_bit(HashSlots t, uint32_t word, uint32_t bit) {
  atomicOr(t.p + word, bit);
}

struct RowTable {
  HashSlots slots;
  int64_t words;  // table slots or bitmap words, a multiple of kWarp
  bool dense;     // a bitmap of C's columns, not a hash table
  bool shared;    // in this warp's shared memory, not the workspace
};

// Row `row`'s accumulator, cleared: its workspace region when it has one (a region of
// spgemm_bitmap_words is a bitmap), else this warp's part of `shared` (sized for the row's
// bound).
template <typename I>
__device__ __forceinline__ RowTable open_table(const I* a_indptr, const I* a_cols,
                                               const I* b_indptr, const int64_t* offsets,
                                               unsigned* workspace, unsigned* shared,
                                               int64_t row, int lane, SpgemmArgs a) {
  RowTable t{HashSlots{workspace + offsets[row]}, offsets[row + 1] - offsets[row], false, false};
  t.dense = t.words == spgemm_bitmap_words(a);
  if (t.words <= 0) {
    const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, lane,
                                                     kWarp, a));
    const int64_t words = spgemm_row_words(ub, a);
    t = RowTable{HashSlots{shared + (threadIdx.x / kWarp) * kSpgemmSharedSlots},
                 words < kSpgemmSharedSlots ? words : kSpgemmSharedSlots,
                 spgemm_dense_row(ub, a), true};
  }
  const uint32_t clear = spgemm_clear_word(t.dense);
  for (int64_t s = lane; s < t.words; s += kWarp) {
    t.slots.p[s] = clear;
  }
  __syncwarp();
  return t;
}

// Inserts row `row`'s candidate columns (B's rows over A's row) into its accumulator, then
// syncs the warp; returns how many keys this lane stored first (tables). Lanes take A's
// entries 32 at a time: each walks its own B row when short, and the warp strides each long
// one together, so a long row of A over short rows of B keeps every lane busy.
template <typename I>
__device__ __forceinline__ int64_t insert_row(RowTable t, const I* a_indptr, const I* a_cols,
                                              const I* b_indptr, const I* b_cols, int64_t row,
                                              int lane, SpgemmArgs a) {
  const uint32_t mask = static_cast<uint32_t>(t.words - 1);
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  int64_t stored = 0;
  for (int64_t base = ar.start; base < ar.end; base += kWarp) {
    const Range br = spgemm_b_row(a_cols, b_indptr, base + lane, ar.end, a);
    const bool wide = br.end - br.start >= kWarp;
    if (!wide) {
      stored += spgemm_insert_columns(t.slots, mask, t.dense, b_cols, br.start, br.end, 1, a);
    }
    for (unsigned w = __ballot_sync(0xffffffffu, wide); w != 0; w &= w - 1) {
      const int src = __ffs(w) - 1;
      const int64_t s = __shfl_sync(0xffffffffu, br.start, src);
      const int64_t e = __shfl_sync(0xffffffffu, br.end, src);
      stored += spgemm_insert_columns(t.slots, mask, t.dense, b_cols, s + lane, e, kWarp, a);
    }
  }
  __syncwarp();
  return stored;
}

// Word s of the accumulator, as the atomics left it (volatile: not from a stale L1 line).
__device__ __forceinline__ unsigned word_at(RowTable t, int64_t s) {
  return static_cast<volatile unsigned*>(t.slots.p)[s];
}

// Distinct columns of a filled accumulator over the warp: set bits, or stored keys.
__device__ __forceinline__ int64_t count_row(RowTable t, int64_t stored, int lane) {
  if (t.dense) {
    stored = 0;
    for (int64_t s = lane; s < t.words; s += kWarp) {
      stored += __popc(word_at(t, s));
    }
  }
  return warp_sum(stored);
}

// A dense row's columns, in order, into c_cols[cr): lane l takes word base + l, finds where
// its columns go from the warp's prefix sum of the words' popcounts, and writes its set bits.
template <typename I>
__device__ __forceinline__ void write_bitmap(RowTable t, I* c_cols, Range cr, int lane) {
  int64_t at = cr.start;
  for (int64_t base = 0; base < t.words; base += kWarp) {
    unsigned bits = word_at(t, base + lane);
    const int n = __popc(bits);
    int inclusive = n;
    for (int o = 1; o < kWarp; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, inclusive, o);
      inclusive += lane >= o ? y : 0;
    }
    int64_t q = at + inclusive - n;
    const int64_t column0 = (base + lane) * 32;
    for (; bits != 0 && q < cr.end; ++q) {
      c_cols[q] = static_cast<I>(column0 + __ffs(bits) - 1);
      bits &= bits - 1;
    }
    at += __shfl_sync(0xffffffffu, inclusive, kWarp - 1);
  }
}

// A table's keys packed to the front of `out` (ballot + popcount, in slot order; `out` may
// be the table itself: each round reads its slots before any lane writes); returns how many.
template <typename O>
__device__ __forceinline__ int64_t pack_keys(RowTable t, O* out, int64_t limit, int lane) {
  int64_t at = 0;
  for (int64_t base = 0; base < t.words; base += kWarp) {
    const unsigned key = word_at(t, base + lane);
    const bool taken = key != kSpgemmEmpty;
    const unsigned ballot = __ballot_sync(0xffffffffu, taken);
    const int64_t q = at + __popc(ballot & ((1u << lane) - 1u));
    if (taken && q < limit) {
      out[q] = static_cast<O>(key);
    }
    at += __popc(ballot);
  }
  __syncwarp();
  return at < limit ? at : limit;
}

// A table's keys, sorted, into c_cols[cr): a shared table is packed and sorted in place in
// shared memory, then copied out; a workspace table is packed and sorted in c_cols.
template <typename I>
__device__ __forceinline__ void write_table(RowTable t, I* c_cols, Range cr, int lane) {
  const int64_t len = cr.end - cr.start;
  if (!t.shared) {
    pack_keys(t, c_cols + cr.start, len, lane);
    sort_segment<I>(c_cols + cr.start, len, lane);
    return;
  }
  const int64_t n = pack_keys(t, t.slots.p, len, lane);
  sort_segment<unsigned>(t.slots.p, n, lane);
  for (int64_t s = lane; s < n; s += kWarp) {
    c_cols[cr.start + s] = static_cast<I>(t.slots.p[s]);
  }
}

template <typename I>
__device__ __forceinline__ void spgemm_workspace(const I* a_indptr, const I* a_cols,
                                                 const I* b_indptr, int64_t* offsets,
                                                 SpgemmArgs a) {
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (global_thread() == 0) {
    offsets[0] = 0;
  }
  if (row >= a.m) {
    return;
  }
  const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, lane,
                                                   kWarp, a));
  if (lane == 0) {
    offsets[row + 1] = spgemm_global_slots(ub, a);
  }
}

template <typename I>
__device__ __forceinline__ void spgemm_count_hash(const I* a_indptr, const I* a_cols,
                                                  const I* b_indptr, const I* b_cols,
                                                  const int64_t* offsets, unsigned* workspace,
                                                  int64_t* c_indptr, SpgemmArgs a) {
  __shared__ unsigned shared[kSpgemmWarps * kSpgemmSharedSlots];
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (global_thread() == 0) {
    c_indptr[0] = 0;
  }
  if (row >= a.m) {
    return;
  }
  const RowTable t = open_table(a_indptr, a_cols, b_indptr, offsets, workspace, shared, row,
                                lane, a);
  const int64_t stored = insert_row(t, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
  const int64_t count = count_row(t, stored, lane);
  if (lane == 0) {
    c_indptr[row + 1] = count;
  }
}

template <typename I>
__device__ __forceinline__ void spgemm_fill_hash(const I* a_indptr, const I* a_cols,
                                                 const I* b_indptr, const I* b_cols,
                                                 const int64_t* offsets, unsigned* workspace,
                                                 const int64_t* c_indptr, I* c_cols,
                                                 SpgemmArgs a) {
  __shared__ unsigned shared[kSpgemmWarps * kSpgemmSharedSlots];
  const int64_t row = global_thread() / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= a.m) {
    return;
  }
  const RowTable t = open_table(a_indptr, a_cols, b_indptr, offsets, workspace, shared, row,
                                lane, a);
  insert_row(t, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
  const Range cr = row_range(c_indptr, row, a.c_nnz);
  if (t.dense) {
    write_bitmap(t, c_cols, cr, lane);
  } else {
    write_table(t, c_cols, cr, lane);
  }
}

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_SPGEMM_SYMBOLIC(I, in_)                                                              \
  extern "C" __global__ void spgemm_workspace_##in_(const I* a_indptr, const I* a_cols,         \
                                                    const I* b_indptr, int64_t* offsets,        \
                                                    SpgemmArgs a) {                             \
    spgemm_workspace<I>(a_indptr, a_cols, b_indptr, offsets, a);                                \
  }                                                                                             \
  extern "C" __global__ void spgemm_count_hash_##in_(                                           \
      const I* a_indptr, const I* a_cols, const I* b_indptr, const I* b_cols,                   \
      const int64_t* offsets, unsigned* workspace, int64_t* c_indptr, SpgemmArgs a) {           \
    spgemm_count_hash<I>(a_indptr, a_cols, b_indptr, b_cols, offsets, workspace, c_indptr, a);  \
  }                                                                                             \
  extern "C" __global__ void spgemm_fill_hash_##in_(                                            \
      const I* a_indptr, const I* a_cols, const I* b_indptr, const I* b_cols,                   \
      const int64_t* offsets, unsigned* workspace, const int64_t* c_indptr, I* c_cols,          \
      SpgemmArgs a) {                                                                           \
    spgemm_fill_hash<I>(a_indptr, a_cols, b_indptr, b_cols, offsets, workspace, c_indptr,       \
                        c_cols, a);                                                             \
  }
MS_FOR_INDEX_TYPES(MS_SPGEMM_SYMBOLIC)
