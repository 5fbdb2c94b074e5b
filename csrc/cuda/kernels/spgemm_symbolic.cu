// spgemm (symbolic) on CUDA: C's canonical pattern, a warp per row of C with a hash table or
// a bitmap (gpu/core/spgemm.h). The host runs, with parallel scans between them:
//   spgemm_workspace: offsets[i + 1] = words of row i's accumulator in the global workspace
//     (0 when it fits in shared memory); scanned, offsets[m] sizes the workspace.
//   Before each of the next two, spgemm_clear clears the workspace's accumulators and
//   spgemm_insert_long fills those of long rows (spgemm_long_row), a warp per 32 entries.
//   spgemm_count_hash: c_indptr[i + 1] = distinct columns of row i (the insertions that
//     stored a key, or the accumulator's bits or keys); scanned, this is C's indptr.
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

// Row `row`'s accumulator in the workspace (words = 0 when it has none; a region of
// spgemm_bitmap_words is a bitmap).
__device__ __forceinline__ RowTable workspace_table(const int64_t* offsets, unsigned* workspace,
                                                    int64_t row, SpgemmArgs a) {
  const int64_t words = offsets[row + 1] - offsets[row];
  return RowTable{HashSlots{workspace + offsets[row]}, words, words == spgemm_bitmap_words(a),
                  false};
}

// Row `row`'s accumulator, cleared: its workspace region when it has one (spgemm_clear
// cleared it), else this warp's part of `shared` (sized for the row's bound).
template <typename I>
__device__ __forceinline__ RowTable open_table(const I* a_indptr, const I* a_cols,
                                               const I* b_indptr, const int64_t* offsets,
                                               unsigned* workspace, unsigned* shared,
                                               int64_t row, int lane, SpgemmArgs a) {
  const RowTable w = workspace_table(offsets, workspace, row, a);
  if (w.words > 0) {
    return w;
  }
  const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, lane,
                                                   kWarp, a));
  const int64_t words = spgemm_row_words(ub, a);
  const RowTable t{HashSlots{shared + (threadIdx.x / kWarp) * kSpgemmSharedSlots},
                   words < kSpgemmSharedSlots ? words : kSpgemmSharedSlots,
                   spgemm_dense_row(ub, a), true};
  const uint32_t clear = spgemm_clear_word(t.dense);
  for (int64_t s = lane; s < t.words; s += kWarp) {
    t.slots.p[s] = clear;
  }
  __syncwarp();
  return t;
}

// Inserts the candidates of this lane's entry of A (B's row `br`) into accumulator t:
// each lane walks its own B row when short, and the warp strides each long one together
// (the table of a long one's lane travels with it); returns how many keys this lane stored
// first (tables).
template <typename I>
__device__ __forceinline__ int64_t insert_entries(RowTable t, Range br, const I* b_cols,
                                                  int lane, SpgemmArgs a) {
  const bool wide = br.end - br.start >= kWarp;
  int64_t stored = 0;
  if (!wide) {
    stored += spgemm_insert_columns(t.slots, static_cast<uint32_t>(t.words - 1), t.dense, b_cols,
                                    br.start, br.end, 1, a);
  }
  for (unsigned w = __ballot_sync(0xffffffffu, wide); w != 0; w &= w - 1) {
    const int src = __ffs(w) - 1;
    const int64_t s = __shfl_sync(0xffffffffu, br.start, src);
    const int64_t e = __shfl_sync(0xffffffffu, br.end, src);
    const RowTable u{HashSlots{reinterpret_cast<unsigned*>(
                         __shfl_sync(0xffffffffu, reinterpret_cast<uintptr_t>(t.slots.p), src))},
                     __shfl_sync(0xffffffffu, t.words, src),
                     __shfl_sync(0xffffffffu, static_cast<int>(t.dense), src) != 0, t.shared};
    stored += spgemm_insert_columns(u.slots, static_cast<uint32_t>(u.words - 1), u.dense, b_cols,
                                    s + lane, e, kWarp, a);
  }
  return stored;
}

// Inserts row `row`'s candidate columns (B's rows over A's row, 32 of A's entries at a time)
// into its accumulator, then syncs the warp; returns how many keys this lane stored first.
template <typename I>
__device__ __forceinline__ int64_t insert_row(RowTable t, const I* a_indptr, const I* a_cols,
                                              const I* b_indptr, const I* b_cols, int64_t row,
                                              int lane, SpgemmArgs a) {
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  int64_t stored = 0;
  for (int64_t base = ar.start; base < ar.end; base += kWarp) {
    stored += insert_entries(t, spgemm_b_row(a_cols, b_indptr, base + lane, ar.end, a), b_cols,
                             lane, a);
  }
  __syncwarp();
  return stored;
}

// Whether row `row` is long (its candidates inserted by spgemm_insert_long).
template <typename I>
__device__ __forceinline__ bool long_row(const I* a_indptr, RowTable t, int64_t row,
                                         SpgemmArgs a) {
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  return !t.shared && spgemm_long_row(ar.end - ar.start, t.words);
}

// Word s of the accumulator, as the atomics left it (volatile: not from a stale L1 line).
__device__ __forceinline__ unsigned word_at(RowTable t, int64_t s) {
  return static_cast<volatile unsigned*>(t.slots.p)[s];
}

// Distinct columns of a filled accumulator over the warp: its set bits or taken slots, or
// the keys this warp's lanes stored when they filled a table themselves.
__device__ __forceinline__ int64_t count_row(RowTable t, int64_t stored, bool filled_here,
                                             int lane) {
  if (t.dense || !filled_here) {
    stored = 0;
    for (int64_t s = lane; s < t.words; s += kWarp) {
      const unsigned w = word_at(t, s);
      stored += t.dense ? __popc(w) : (w != kSpgemmEmpty ? 1 : 0);
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

// A warp per row: clears the row's workspace accumulator, if it has one.
__device__ __forceinline__ void clear_workspace(const int64_t* offsets, unsigned* workspace,
                                                SpgemmArgs a) {
  const int64_t row = global_thread() / kWarp;
  if (row >= a.m) {
    return;
  }
  const RowTable t = workspace_table(offsets, workspace, row, a);
  const uint32_t clear = spgemm_clear_word(t.dense);
  for (int64_t s = threadIdx.x % kWarp; s < t.words; s += kWarp) {
    t.slots.p[s] = clear;
  }
}

// A warp per 32 consecutive entries of A: the entries of long rows insert their candidates
// into their rows' workspace accumulators, so a long row is filled by many warps.
template <typename I>
__device__ __forceinline__ void spgemm_insert_long(const I* a_indptr, const I* a_cols,
                                                   const I* b_indptr, const I* b_cols,
                                                   const int64_t* offsets, unsigned* workspace,
                                                   SpgemmArgs a) {
  const int64_t e0 = global_thread() / kWarp * kWarp;
  const int lane = threadIdx.x % kWarp;
  if (e0 >= a.a_nnz || a.m <= 0) { // the whole warp leaves together
    return;
  }
  const int64_t p = e0 + lane;
  int64_t row = row_of_entry(a_indptr, a.m, e0);
  while (row + 1 < a.m && static_cast<int64_t>(a_indptr[row + 1]) <= p) {
    ++row;
  }
  RowTable t = workspace_table(offsets, workspace, row, a);
  const bool mine =
      p < a.a_nnz && row_holds(a_indptr, row, a.a_nnz, p) && long_row(a_indptr, t, row, a);
  t.words = mine ? t.words : 1; // lanes without a long row insert nothing
  insert_entries(t, mine ? spgemm_b_row(a_cols, b_indptr, p, a.a_nnz, a) : Range{0, 0}, b_cols,
                 lane, a);
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
  const bool here = !long_row(a_indptr, t, row, a);
  const int64_t stored = here ? insert_row(t, a_indptr, a_cols, b_indptr, b_cols, row, lane, a)
                              : 0;
  const int64_t count = count_row(t, stored, here, lane);
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
  if (!long_row(a_indptr, t, row, a)) {
    insert_row(t, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
  }
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
  extern "C" __global__ void spgemm_insert_long_##in_(                                          \
      const I* a_indptr, const I* a_cols, const I* b_indptr, const I* b_cols,                   \
      const int64_t* offsets, unsigned* workspace, SpgemmArgs a) {                              \
    spgemm_insert_long<I>(a_indptr, a_cols, b_indptr, b_cols, offsets, workspace, a);           \
  }                                                                                             \
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

extern "C" __global__ void spgemm_clear(const int64_t* offsets, unsigned* workspace,
                                        SpgemmArgs a) {
  clear_workspace(offsets, workspace, a);
}
