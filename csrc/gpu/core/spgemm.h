// Per-thread pieces of spgemm, shared by CUDA and Metal (and the CPU, which computes the
// same workspace layout). Symbolic phase: Gustavson, a warp (SIMD group) per row i of C
// inserts B's columns over A's row i into the row's accumulator. That is an open-addressing
// hash table (32-bit keys, linear probing, empty = ~0u) of a power of two >= 2 * bound
// slots, bound = min(sum of B's row lengths over A's row i, n_cols_b) >= its distinct
// columns, so probing always ends; or, when no larger, a bitmap of C's columns (dense rows:
// narrow outputs and long rows, whose columns then need no sort). Accumulators of up to
// kSpgemmSharedSlots words live in shared (threadgroup) memory, larger ones in a global
// workspace laid out by spgemm_global_slots. Columns outside [0, n_cols_b) and A's columns
// outside B's rows are skipped.
#pragma once

#include "gpu/core/csr.h"
#include "gpu/core/params.h"

namespace mlx_sparse::gpu {

MS_CONST uint32_t kSpgemmEmpty = 0xffffffffu;
MS_CONST int kSpgemmWarps = 4;                // warps per block of the hash kernels
MS_CONST int64_t kSpgemmSharedSlots = 1024;   // per warp: a block holds 4 x 4 KB
MS_CONST int64_t kSpgemmMinSlots = 32;        // one slot per lane
MS_CONST int64_t kSpgemmLongRow = 256;        // A's rows this long: many warps insert

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

// Words of a bitmap of C's columns (bit c % 32 of word c / 32 marks column c), in whole
// rounds of 32 lanes.
MS_FN int64_t spgemm_bitmap_words(SpgemmArgs a) {
  const int64_t rounds = ((a.n_cols_b + 31) / 32 + kSpgemmMinSlots - 1) / kSpgemmMinSlots;
  return (rounds > 0 ? rounds : 1) * kSpgemmMinSlots;
}

// A row is dense when a bitmap of C's columns is no larger than its hash table: its columns
// then come out in order, with no sort (narrow outputs, and long rows of wide ones).
MS_FN bool spgemm_dense_row(int64_t ub, SpgemmArgs a) {
  return spgemm_bitmap_words(a) <= spgemm_table_slots(ub, a);
}

// Words of the row's accumulator: bitmap words when dense, else hash table slots. A hash
// table is always smaller than the bitmap, so a row of spgemm_bitmap_words is dense.
MS_FN int64_t spgemm_row_words(int64_t ub, SpgemmArgs a) {
  return spgemm_dense_row(ub, a) ? spgemm_bitmap_words(a) : spgemm_table_slots(ub, a);
}

// Words of the row's accumulator in the global workspace: 0 when it fits in shared memory.
MS_FN int64_t spgemm_global_slots(int64_t ub, SpgemmArgs a) {
  const int64_t words = spgemm_row_words(ub, a);
  return words > kSpgemmSharedSlots ? words : 0;
}

// Whether row i of A (`length` entries, an accumulator of `workspace_words` in the
// workspace) is long: then a warp per 32 of its entries inserts its candidates
// (spgemm_insert_long) before the row's own warp counts or writes them; a long row with a
// shared accumulator is not (few candidates: B's rows over it are mostly empty).
MS_FN bool spgemm_long_row(int64_t length, int64_t workspace_words) {
  return workspace_words > 0 && length >= kSpgemmLongRow;
}

// The value an accumulator's words start from: no bits set, or every slot empty.
MS_FN uint32_t spgemm_clear_word(bool dense) {
  return dense ? 0u : kSpgemmEmpty;
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

// B's row for A's entry p: empty when p >= end or A's column is outside B's rows.
template <typename I>
MS_FN Range spgemm_b_row(MS_GLOBAL const I* a_cols, MS_GLOBAL const I* b_indptr, int64_t p,
                         int64_t end, SpgemmArgs a) {
  if (p < end) {
    const int64_t j = static_cast<int64_t>(a_cols[p]);
    if (in_range(j, a.b_rows)) {
      return row_range(b_indptr, j, a.b_nnz);
    }
  }
  return Range{0, 0};
}

// Inserts B's columns b_cols[q], q = start, start + step, ... < end, into a row's bitmap
// (dense) or hash table of mask + 1 slots; returns how many keys this call stored first in a
// table (a bitmap is counted from its bits afterwards, so its marks need not wait).
// mark_bit(table, word, bit), defined by each backend for its Slots type, ors bit in.
template <typename Slots, typename I>
MS_FN int64_t spgemm_insert_columns(Slots table, uint32_t mask, bool dense,
                                    MS_GLOBAL const I* b_cols, int64_t start, int64_t end,
                                    int64_t step, SpgemmArgs a) {
  int64_t stored = 0;
  for (int64_t q = start; q < end; q += step) {
    const int64_t c = static_cast<int64_t>(b_cols[q]);
    if (!in_range(c, a.n_cols_b)) {
      continue;
    }
    const uint32_t key = static_cast<uint32_t>(c);
    if (dense) {
      mark_bit(table, key >> 5, 1u << (key & 31u));
    } else if (spgemm_hash_insert(table, mask, key)) {
      ++stored;
    }
  }
  return stored;
}

// ---- numeric phase: values of C = A @ B on C's given pattern (sorted, unique columns)

// Rows of A shorter than kSpgemmLongRow get a SIMD group each (spgemm_row_warp), which
// adds a row's products in one order, so their values are reproducible bit for bit. Longer
// rows are shared by many groups, kSpgemmEntries entries each (spgemm_nnz_split), so one
// does not stall the GPU; their products meet in C's slots in no fixed order.
MS_CONST int64_t kSpgemmEntries = 8;

// This lane's products for A's entries [e0, e1), `row` holding e0 (of long rows only when
// long_only): for each entry (row i, column j, value v), v * B[j, c] over B's row j, lanes
// apart, is added into row i's slot for column c (found by binary search in C's row), or
// dropped when C has no such slot (the masked gradients rely on it). Entries in no row add
// nothing. add_product(acc, slot, value), defined by each backend for its Acc type, adds
// atomically in float32.
template <typename Acc, typename T, typename I>
MS_FN void spgemm_entry_products(Acc acc, MS_GLOBAL const I* a_indptr, MS_GLOBAL const I* a_cols,
                                 MS_GLOBAL const T* a_vals, MS_GLOBAL const I* b_indptr,
                                 MS_GLOBAL const I* b_cols, MS_GLOBAL const T* b_vals,
                                 MS_GLOBAL const I* c_indptr, MS_GLOBAL const I* c_cols,
                                 int64_t row, int64_t e0, int64_t e1, bool long_only, int lane,
                                 int lanes, SpgemmArgs a) {
  Range ar = row_range(a_indptr, row, a.a_nnz);
  Range cr = row_range(c_indptr, row, a.c_nnz);
  for (int64_t p = e0; p < e1; ++p) {
    while (row + 1 < a.m && ar.end <= p) {
      ar = row_range(a_indptr, ++row, a.a_nnz);
      cr = row_range(c_indptr, row, a.c_nnz);
    }
    const int64_t j = static_cast<int64_t>(a_cols[p]);
    if (p < ar.start || p >= ar.end || (long_only && ar.end - ar.start < kSpgemmLongRow) ||
        !in_range(j, a.b_rows)) {
      continue;
    }
    const float v = to_float(a_vals[p]);
    const Range br = row_range(b_indptr, j, a.b_nnz);
    for (int64_t q = br.start + lane; q < br.end; q += lanes) {
      const int64_t at = find_column(c_cols, cr.start, cr.end, static_cast<int64_t>(b_cols[q]));
      if (at >= 0) {
        add_product(acc, at, v * to_float(b_vals[q]));
      }
    }
  }
}

} // namespace mlx_sparse::gpu
