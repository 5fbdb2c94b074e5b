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

__device__ __forceinline__ bool set_bit(HashSlots t, uint32_t word, uint32_t bit) {
  return (atomicOr(t.p + word, bit) & bit) == 0;
}

struct RowTable {
  HashSlots slots;
  uint32_t mask;  // words - 1 (a table's probe mask)
  bool dense;     // a bitmap of C's columns, not a hash table
};

// Row `row`'s accumulator, cleared: its workspace region when it has one (a region of
// spgemm_bitmap_words is a bitmap), else this warp's part of `shared` (sized for the row's
// bound).
template <typename I>
__device__ __forceinline__ RowTable open_table(const I* a_indptr, const I* a_cols,
                                               const I* b_indptr, const int64_t* offsets,
                                               unsigned* workspace, unsigned* shared,
                                               int64_t row, int lane, SpgemmArgs a) {
  int64_t slots = offsets[row + 1] - offsets[row];
  unsigned* p = workspace + (slots > 0 ? offsets[row] : 0);
  bool dense = slots == spgemm_bitmap_words(a);
  if (slots <= 0) {
    const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, lane,
                                                     kWarp, a));
    slots = spgemm_row_words(ub, a);
    slots = slots < kSpgemmSharedSlots ? slots : kSpgemmSharedSlots;
    dense = spgemm_dense_row(ub, a);
    p = shared + (threadIdx.x / kWarp) * kSpgemmSharedSlots;
  }
  const uint32_t clear = spgemm_clear_word(dense);
  for (int64_t s = lane; s < slots; s += kWarp) {
    p[s] = clear;
  }
  __syncwarp();
  return RowTable{HashSlots{p}, static_cast<uint32_t>(slots - 1), dense};
}

// A dense row's columns, in order, into c_cols[cr): lane l takes word base + l, finds where
// its columns go from the warp's prefix sum of the words' popcounts, and writes its set bits.
template <typename I>
__device__ __forceinline__ void write_bitmap(const unsigned* words, int64_t count, I* c_cols,
                                             Range cr, int lane) {
  int64_t at = cr.start;
  for (int64_t base = 0; base < count; base += kWarp) {
    unsigned bits = words[base + lane];
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
  const int64_t stored = warp_sum(spgemm_insert_row(t.slots, t.mask, t.dense, a_indptr, a_cols,
                                                    b_indptr, b_cols, row, lane, kWarp, a));
  if (lane == 0) {
    c_indptr[row + 1] = stored;
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
  spgemm_insert_row(t.slots, t.mask, t.dense, a_indptr, a_cols, b_indptr, b_cols, row, lane,
                    kWarp, a);
  __syncwarp();
  const Range cr = row_range(c_indptr, row, a.c_nnz);
  const int64_t slots = static_cast<int64_t>(t.mask) + 1; // a multiple of kWarp
  if (t.dense) {
    write_bitmap(t.slots.p, slots, c_cols, cr, lane);
    return;
  }
  int64_t at = cr.start;
  for (int64_t base = 0; base < slots; base += kWarp) {
    const unsigned key = t.slots.p[base + lane];
    const bool taken = key != kSpgemmEmpty;
    const unsigned ballot = __ballot_sync(0xffffffffu, taken);
    const int64_t q = at + __popc(ballot & ((1u << lane) - 1u));
    if (taken && q < cr.end) {
      c_cols[q] = static_cast<I>(key);
    }
    at += __popc(ballot);
  }
  __syncwarp();
  sort_segment<I>(c_cols + cr.start, cr.end - cr.start, lane);
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
