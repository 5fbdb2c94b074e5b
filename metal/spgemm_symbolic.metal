// spgemm (symbolic) on Metal, as csrc/cuda/kernels/spgemm_symbolic.cu: C's canonical
// pattern, a SIMD group per row of C with a hash table or a bitmap (gpu/core/spgemm.h).
//   spgemm_workspace: offsets[i + 1] = words of row i's accumulator in the device workspace
//     (0 when it fits in threadgroup memory); scanned, offsets[m] sizes the workspace.
//   Before each of the next two, spgemm_clear clears the workspace's accumulators and
//   spgemm_insert_long fills those of long rows (spgemm_long_row), a SIMD group per 32
//   entries.
//   spgemm_count_hash: c_indptr[i + 1] = distinct columns of row i; scanned, C's indptr.
//   spgemm_fill_hash: the same insertions, then the row's columns written into row i of
//     c_cols: a bitmap's in order, a table's compacted (SIMD prefix sums, in slot order) and
//     sorted there (sort_segment).
// Threadgroups hold kSpgemmWarps SIMD groups, each with kSpgemmSharedSlots threadgroup slots.
#include "common.h"
#include "gpu/core/spgemm.h"
#include "sort.h"

namespace mlx_sparse::gpu {

// Tables in threadgroup or device memory (Metal tells the address spaces apart).
struct SharedSlots {
  threadgroup atomic_uint* p;
};
struct DeviceSlots {
  device atomic_uint* p;
};

// Stores key into an empty slot; returns what the slot held (the weak exchange may fail
// spuriously: it is retried while the slot stays empty).
template <typename P>
inline uint32_t claim_empty(P slot, uint32_t key) {
  uint expected = kSpgemmEmpty;
  while (!atomic_compare_exchange_weak_explicit(slot, &expected, key, memory_order_relaxed,
                                                memory_order_relaxed)) {
    if (expected != kSpgemmEmpty) {
      return expected;
    }
  }
  return kSpgemmEmpty;
}
inline uint32_t claim_slot(SharedSlots t, uint32_t slot, uint32_t key) {
  return claim_empty(t.p + slot, key);
}
inline uint32_t claim_slot(DeviceSlots t, uint32_t slot, uint32_t key) {
  return claim_empty(t.p + slot, key);
}
inline void mark_bit(SharedSlots t, uint32_t word, uint32_t bit) {
  atomic_fetch_or_explicit(t.p + word, bit, memory_order_relaxed);
}
inline void mark_bit(DeviceSlots t, uint32_t word, uint32_t bit) {
  atomic_fetch_or_explicit(t.p + word, bit, memory_order_relaxed);
}

// Inserts row `row`'s candidate columns (B's rows over A's row) into its accumulator of
// `words` words; returns how many keys this lane stored first (tables). Lanes take A's
// entries 32 at a time: each walks its own B row when short, and the SIMD group strides
// each long one together, so a long row of A over short rows of B keeps every lane busy.
template <typename Slots, typename I>
inline int64_t insert_row(Slots t, int64_t words, bool dense, device const I* a_indptr,
                          device const I* a_cols, device const I* b_indptr,
                          device const I* b_cols, int64_t row, uint lane, SpgemmArgs a) {
  const uint32_t mask = static_cast<uint32_t>(words - 1);
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  int64_t stored = 0;
  for (int64_t base = ar.start; base < ar.end; base += kSimd) {
    const Range br = spgemm_b_row(a_cols, b_indptr, base + int64_t(lane), ar.end, a);
    const bool wide = br.end - br.start >= kSimd;
    if (!wide) {
      stored += spgemm_insert_columns(t, mask, dense, b_cols, br.start, br.end, 1, a);
    }
    if (!simd_any(wide)) {
      continue;
    }
    for (ushort src = 0; src < kSimd; ++src) {
      const int64_t s = shuffle(br.start, src), e = shuffle(br.end, src);
      if (e - s >= kSimd) {
        stored += spgemm_insert_columns(t, mask, dense, b_cols, s + int64_t(lane), e, kSimd, a);
      }
    }
  }
  return stored;
}

// Row `row`'s workspace accumulator (none when words == 0; spgemm_bitmap_words: a bitmap).
struct WorkspaceRow {
  DeviceSlots t;
  int64_t words;
  bool dense;
};

inline WorkspaceRow workspace_row(device const int64_t* offsets,
                                  device atomic_uint* workspace, int64_t row, SpgemmArgs a) {
  const int64_t words = offsets[row + 1] - offsets[row];
  return WorkspaceRow{DeviceSlots{workspace + offsets[row]}, words,
                      words == spgemm_bitmap_words(a)};
}

// Whether row `row` (with workspace words `words`) is long: spgemm_insert_long fills it.
template <typename I>
inline bool long_row(device const I* a_indptr, int64_t row, int64_t words, SpgemmArgs a) {
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  return spgemm_long_row(ar.end - ar.start, words);
}

// Clears a threadgroup accumulator's `words` words, then inserts the row; returns how many
// keys this lane stored. (Workspace accumulators are cleared by spgemm_clear.)
template <typename I>
inline int64_t fill_table(SharedSlots t, int64_t words, bool dense, device const I* a_indptr,
                          device const I* a_cols, device const I* b_indptr,
                          device const I* b_cols, int64_t row, uint lane, SpgemmArgs a) {
  const uint32_t clear = spgemm_clear_word(dense);
  for (int64_t s = lane; s < words; s += kSimd) {
    atomic_store_explicit(t.p + s, clear, memory_order_relaxed);
  }
  simdgroup_barrier(mem_flags::mem_threadgroup);
  const int64_t stored = insert_row(t, words, dense, a_indptr, a_cols, b_indptr, b_cols, row,
                                    lane, a);
  simdgroup_barrier(mem_flags::mem_threadgroup);
  return stored;
}

// Distinct columns of a filled accumulator over the SIMD group: its set bits or taken
// slots, or the keys this group's lanes stored when they filled a table themselves.
template <typename Slots>
inline int64_t count_row(Slots t, int64_t words, bool dense, int64_t stored, bool filled_here,
                         uint lane) {
  if (dense || !filled_here) {
    stored = 0;
    for (int64_t s = lane; s < words; s += kSimd) {
      const uint w = atomic_load_explicit(t.p + s, memory_order_relaxed);
      stored += dense ? int64_t(popcount(w)) : (w != kSpgemmEmpty ? 1 : 0);
    }
  }
  return warp_sum(stored);
}

// A dense row's columns, in order, into c_cols[cr): lane l takes word base + l, finds where
// its columns go from the SIMD prefix sum of the words' popcounts, and writes its set bits.
template <typename Slots, typename I>
inline void write_bitmap(Slots t, int64_t words, device I* c_cols, Range cr, uint lane) {
  int64_t at = cr.start;
  for (int64_t base = 0; base < words; base += kSimd) {
    uint bits = atomic_load_explicit(t.p + base + lane, memory_order_relaxed);
    const uint n = popcount(bits);
    int64_t q = at + int64_t(simd_prefix_exclusive_sum(n));
    const int64_t column0 = (base + int64_t(lane)) * 32;
    for (; bits != 0 && q < cr.end; ++q) {
      c_cols[q] = static_cast<I>(column0 + int64_t(ctz(bits)));
      bits &= bits - 1;
    }
    at += int64_t(simd_sum(n));
  }
}

// A table's keys packed to the front of `out` (SIMD prefix sums, in slot order; `out` may
// be the table itself: each round reads its slots before any lane writes); returns how many.
template <typename Slots, typename P>
inline int64_t pack_keys(Slots t, int64_t words, P out, int64_t limit, uint lane) {
  int64_t at = 0;
  for (int64_t base = 0; base < words; base += kSimd) {
    const uint key = atomic_load_explicit(t.p + base + lane, memory_order_relaxed);
    const uint taken = key != kSpgemmEmpty ? 1u : 0u;
    const int64_t q = at + int64_t(simd_prefix_exclusive_sum(taken));
    if (taken != 0 && q < limit) {
      out[q] = key;
    }
    at += int64_t(simd_sum(taken));
  }
  return at < limit ? at : limit;
}

// A table's keys, sorted, into c_cols[cr): a threadgroup table is packed and sorted in
// place in threadgroup memory, then copied out; a workspace table is packed and sorted in
// c_cols.
template <typename I>
inline void write_table(DeviceSlots t, int64_t words, device I* c_cols, Range cr, uint lane) {
  const int64_t len = cr.end - cr.start;
  pack_keys(t, words, c_cols + cr.start, len, lane);
  simdgroup_barrier(mem_flags::mem_device);
  sort_segment(c_cols + cr.start, len, int(lane), mem_flags::mem_device);
}
template <typename I>
inline void write_table(SharedSlots t, int64_t words, device I* c_cols, Range cr, uint lane) {
  threadgroup uint* keys = reinterpret_cast<threadgroup uint*>(t.p);
  const int64_t n = pack_keys(t, words, keys, cr.end - cr.start, lane);
  simdgroup_barrier(mem_flags::mem_threadgroup);
  sort_segment(keys, n, int(lane), mem_flags::mem_threadgroup);
  for (int64_t s = lane; s < n; s += kSimd) {
    c_cols[cr.start + s] = static_cast<I>(keys[s]);
  }
}

// Writes the row's columns into c_cols[cr]: a bitmap's in order, a table's sorted.
template <typename Slots, typename I>
inline void write_row(Slots t, int64_t words, bool dense, device I* c_cols, Range cr,
                      uint lane) {
  if (dense) {
    write_bitmap(t, words, c_cols, cr, lane);
  } else {
    write_table(t, words, c_cols, cr, lane);
  }
}

// Words of the row's threadgroup accumulator (rows without a workspace region), and whether
// it is a bitmap.
struct SharedRow {
  int64_t words;
  bool dense;
};

template <typename I>
inline SharedRow shared_row(device const I* a_indptr, device const I* a_cols,
                            device const I* b_indptr, int64_t row, uint lane, SpgemmArgs a) {
  const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, int(lane),
                                                   kSimd, a));
  const int64_t words = spgemm_row_words(ub, a);
  return SharedRow{words < kSpgemmSharedSlots ? words : kSpgemmSharedSlots,
                   spgemm_dense_row(ub, a)};
}

} // namespace mlx_sparse::gpu

template <typename I>
[[kernel]] void spgemm_workspace(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const I* b_indptr [[buffer(2)]], device int64_t* offsets [[buffer(3)]],
    constant SpgemmArgs& a [[buffer(4)]], uint3 gid [[thread_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  if (gid.x == 0) {
    offsets[0] = 0;
  }
  if (row >= a.m) {
    return;
  }
  const int64_t ub = warp_sum(spgemm_bound_partial(a_indptr, a_cols, b_indptr, row, int(lane),
                                                   kSimd, a));
  if (lane == 0) {
    offsets[row + 1] = spgemm_global_slots(ub, a);
  }
}

// A SIMD group per row: clears the row's workspace accumulator, if it has one (W: the
// workspace's word, uint; a template so that it is named through instantiate_kernel).
template <typename W>
[[kernel]] void spgemm_clear(device const int64_t* offsets [[buffer(0)]],
                             device atomic<W>* workspace [[buffer(1)]],
                             constant SpgemmArgs& a [[buffer(2)]],
                             uint3 gid [[thread_position_in_grid]],
                             uint lane [[thread_index_in_simdgroup]]) {
  const int64_t row = int64_t(gid.x) / kSimd;
  if (row >= a.m) {
    return;
  }
  const WorkspaceRow w = workspace_row(offsets, workspace, row, a);
  const uint32_t clear = spgemm_clear_word(w.dense);
  for (int64_t s = lane; s < w.words; s += kSimd) {
    atomic_store_explicit(w.t.p + s, clear, memory_order_relaxed);
  }
}

// A SIMD group per 32 consecutive entries of A: the entries of long rows insert their
// candidates into their rows' workspace accumulators, so a long row is filled by many
// groups. Each lane walks its own B row when short; the group strides each long one.
template <typename I>
[[kernel]] void spgemm_insert_long(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const I* b_indptr [[buffer(2)]], device const I* b_cols [[buffer(3)]],
    device const int64_t* offsets [[buffer(4)]], device atomic_uint* workspace [[buffer(5)]],
    constant SpgemmArgs& a [[buffer(6)]], uint3 gid [[thread_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  const int64_t e0 = int64_t(gid.x) / kSimd * kSimd;
  if (e0 >= a.a_nnz || a.m <= 0) { // the whole SIMD group leaves together
    return;
  }
  const int64_t p = e0 + int64_t(lane);
  int64_t row = row_of_entry(a_indptr, a.m, e0);
  while (row + 1 < a.m && static_cast<int64_t>(a_indptr[row + 1]) <= p) {
    ++row;
  }
  const WorkspaceRow w = workspace_row(offsets, workspace, row, a);
  const bool mine =
      p < a.a_nnz && row_holds(a_indptr, row, a.a_nnz, p) && long_row(a_indptr, row, w.words, a);
  const Range br = mine ? spgemm_b_row(a_cols, b_indptr, p, a.a_nnz, a) : Range{0, 0};
  const bool wide = br.end - br.start >= kSimd;
  if (!wide) {
    spgemm_insert_columns(w.t, static_cast<uint32_t>(w.words - 1), w.dense, b_cols, br.start,
                          br.end, 1, a);
  }
  if (!simd_any(wide)) {
    return;
  }
  for (ushort src = 0; src < kSimd; ++src) {
    const int64_t s = shuffle(br.start, src), e = shuffle(br.end, src);
    if (e - s >= kSimd) {
      const WorkspaceRow u = workspace_row(offsets, workspace, shuffle(row, src), a);
      spgemm_insert_columns(u.t, static_cast<uint32_t>(u.words - 1), u.dense, b_cols,
                            s + int64_t(lane), e, kSimd, a);
    }
  }
}

template <typename I>
[[kernel]] void spgemm_count_hash(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const I* b_indptr [[buffer(2)]], device const I* b_cols [[buffer(3)]],
    device const int64_t* offsets [[buffer(4)]], device atomic_uint* workspace [[buffer(5)]],
    device int64_t* c_indptr [[buffer(6)]], constant SpgemmArgs& a [[buffer(7)]],
    uint3 gid [[thread_position_in_grid]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup atomic_uint shared[kSpgemmWarps * kSpgemmSharedSlots];
  const int64_t row = int64_t(gid.x) / kSimd; // one row per SIMD group: uniform control flow
  if (gid.x == 0) {
    c_indptr[0] = 0;
  }
  if (row >= a.m) {
    return;
  }
  const WorkspaceRow w = workspace_row(offsets, workspace, row, a);
  int64_t stored;
  if (w.words > 0) { // cleared by spgemm_clear; filled by spgemm_insert_long when long
    const bool here = !long_row(a_indptr, row, w.words, a);
    stored = here ? insert_row(w.t, w.words, w.dense, a_indptr, a_cols, b_indptr, b_cols, row,
                               lane, a)
                  : 0;
    simdgroup_barrier(mem_flags::mem_device);
    stored = count_row(w.t, w.words, w.dense, stored, here, lane);
  } else {
    const SharedSlots t{shared + simd * kSpgemmSharedSlots};
    const SharedRow r = shared_row(a_indptr, a_cols, b_indptr, row, lane, a);
    stored = fill_table(t, r.words, r.dense, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
    stored = count_row(t, r.words, r.dense, stored, true, lane);
  }
  if (lane == 0) {
    c_indptr[row + 1] = stored;
  }
}

template <typename I>
[[kernel]] void spgemm_fill_hash(
    device const I* a_indptr [[buffer(0)]], device const I* a_cols [[buffer(1)]],
    device const I* b_indptr [[buffer(2)]], device const I* b_cols [[buffer(3)]],
    device const int64_t* offsets [[buffer(4)]], device atomic_uint* workspace [[buffer(5)]],
    device const int64_t* c_indptr [[buffer(6)]], device I* c_cols [[buffer(7)]],
    constant SpgemmArgs& a [[buffer(8)]], uint3 gid [[thread_position_in_grid]],
    uint simd [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  threadgroup atomic_uint shared[kSpgemmWarps * kSpgemmSharedSlots];
  const int64_t row = int64_t(gid.x) / kSimd;
  if (row >= a.m) {
    return;
  }
  const Range cr = row_range(c_indptr, row, a.c_nnz);
  const WorkspaceRow w = workspace_row(offsets, workspace, row, a);
  if (w.words > 0) { // cleared by spgemm_clear; filled by spgemm_insert_long when long
    if (!long_row(a_indptr, row, w.words, a)) {
      insert_row(w.t, w.words, w.dense, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
    }
    simdgroup_barrier(mem_flags::mem_device);
    write_row(w.t, w.words, w.dense, c_cols, cr, lane);
  } else {
    const SharedSlots t{shared + simd * kSpgemmSharedSlots};
    const SharedRow r = shared_row(a_indptr, a_cols, b_indptr, row, lane, a);
    fill_table(t, r.words, r.dense, a_indptr, a_cols, b_indptr, b_cols, row, lane, a);
    write_row(t, r.words, r.dense, c_cols, cr, lane);
  }
}

#define MS_SPGEMM_SYMBOLIC(I, in_)                                          \
  instantiate_kernel("spgemm_insert_long_" #in_, spgemm_insert_long, I)     \
  instantiate_kernel("spgemm_workspace_" #in_, spgemm_workspace, I)         \
  instantiate_kernel("spgemm_count_hash_" #in_, spgemm_count_hash, I)       \
  instantiate_kernel("spgemm_fill_hash_" #in_, spgemm_fill_hash, I)
MS_FOR_INDEX_TYPES(MS_SPGEMM_SYMBOLIC)
instantiate_kernel("spgemm_clear", spgemm_clear, uint)
