// Per-thread pieces of spgemm's symbolic phase, shared by CUDA and Metal (and the CPU, which
// computes the same workspace layout). Gustavson with a hash accumulator: a warp (SIMD
// group) per row i of C inserts B's columns over A's row i into an open-addressing table
// (32-bit keys, linear probing, empty = ~0u). A row's table has a power of two >= 2 * bound
// slots, bound = min(sum of B's row lengths over A's row i, n_cols_b) >= its distinct
// columns, so probing always ends; tables of up to kSpgemmSharedSlots live in shared
// (threadgroup) memory, larger ones in a global workspace laid out by spgemm_global_slots.
// Columns outside [0, n_cols_b) and A's columns outside B's rows are skipped.
#pragma once

#include "gpu/core/csr.h"
#include "gpu/core/params.h"

namespace mlx_sparse::gpu {

MS_CONST uint32_t kSpgemmEmpty = 0xffffffffu;
MS_CONST int kSpgemmWarps = 4;                // warps per block of the hash kernels
MS_CONST int64_t kSpgemmSharedSlots = 1024;   // per warp: a block holds 4 x 4 KB
MS_CONST int64_t kSpgemmMinSlots = 32;        // one slot per lane

// This lane's share of row `row`'s bound: B's row lengths over A's row, lanes apart.
template <typename I>
MS_FN int64_t spgemm_bound_partial(MS_GLOBAL const I* a_indptr, MS_GLOBAL const I* a_cols,
                                   MS_GLOBAL const I* b_indptr, int64_t row, int lane,
                                   int lanes, SpgemmArgs a) {
  int64_t ub = 0;
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  for (int64_t p = ar.start + lane; p < ar.end; p += lanes) {
    const int64_t j = static_cast<int64_t>(a_cols[p]);
    if (in_range(j, a.b_rows)) {
      const Range br = row_range(b_indptr, j, a.b_nnz);
      ub += br.end - br.start;
    }
  }
  return ub;
}

// Slots of the table of a row whose partial bounds sum to `ub`.
MS_FN int64_t spgemm_table_slots(int64_t ub, SpgemmArgs a) {
  const int64_t bound = ub < a.n_cols_b ? ub : a.n_cols_b;
  int64_t slots = kSpgemmMinSlots;
  while (slots < 2 * bound) {
    slots <<= 1;
  }
  return slots;
}

// Slots of the row's table in the global workspace: 0 when it fits in shared memory.
MS_FN int64_t spgemm_global_slots(int64_t ub, SpgemmArgs a) {
  const int64_t slots = spgemm_table_slots(ub, a);
  return slots > kSpgemmSharedSlots ? slots : 0;
}

// Home slot of a column: multiplying by an odd constant permutes the low bits, so columns
// that are close together land in distinct slots.
MS_FN uint32_t spgemm_hash(uint32_t key, uint32_t mask) {
  return (key * 2654435761u) & mask;
}

// Inserts key into the table of mask + 1 slots; true when this call stored it (false when
// it was there). claim_slot(table, slot, key), defined by each backend for its Slots type,
// stores key into the slot if it is empty and returns what the slot held before
// (kSpgemmEmpty when it stored key).
template <typename Slots>
MS_FN bool spgemm_hash_insert(Slots table, uint32_t mask, uint32_t key) {
  uint32_t slot = spgemm_hash(key, mask);
  while (true) {
    const uint32_t held = claim_slot(table, slot, key);
    if (held == kSpgemmEmpty) {
      return true;
    }
    if (held == key) {
      return false;
    }
    slot = (slot + 1) & mask;
  }
}

// Inserts this lane's share of row `row`'s candidate columns (B's rows over A's row, lanes
// apart within each) into the table; returns how many this lane stored first.
template <typename Slots, typename I>
MS_FN int64_t spgemm_insert_row(Slots table, uint32_t mask, MS_GLOBAL const I* a_indptr,
                                MS_GLOBAL const I* a_cols, MS_GLOBAL const I* b_indptr,
                                MS_GLOBAL const I* b_cols, int64_t row, int lane, int lanes,
                                SpgemmArgs a) {
  int64_t stored = 0;
  const Range ar = row_range(a_indptr, row, a.a_nnz);
  for (int64_t p = ar.start; p < ar.end; ++p) {
    const int64_t j = static_cast<int64_t>(a_cols[p]);
    if (!in_range(j, a.b_rows)) {
      continue;
    }
    const Range br = row_range(b_indptr, j, a.b_nnz);
    for (int64_t q = br.start + lane; q < br.end; q += lanes) {
      const int64_t c = static_cast<int64_t>(b_cols[q]);
      if (in_range(c, a.n_cols_b) && spgemm_hash_insert(table, mask, static_cast<uint32_t>(c))) {
        ++stored;
      }
    }
  }
  return stored;
}

} // namespace mlx_sparse::gpu
