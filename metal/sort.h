// Per-row sort on Metal, as csrc/cuda/kernels/sort.cuh: shared by transpose (stable
// permutations) and spgemm's symbolic phase (columns of C's rows); a SIMD group sorts one
// segment in place.
#pragma once

#include "common.h"
#include "gpu/core/sort.h"

// A SIMD group sorts v[0, len) (gpu/core/sort.h), syncing its lanes between stages over
// `space`, the memory v lives in (mem_device or mem_threadgroup; passed, not overloaded on
// v's address space, so that the emulator's plain pointers compile too).
template <typename P>
inline void sort_segment(P v, int64_t len, int lane, mem_flags space) {
  const int64_t size = bitonic_size(len);
  for (int64_t block = 2; block <= size; block <<= 1) {
    bitonic_stage(v, len, size, block, int64_t(0), lane, kSimd); // the flip
    simdgroup_barrier(space);
    for (int64_t d = block / 4; d > 0; d >>= 1) { // the half-cleaners
      bitonic_stage(v, len, size, block, d, lane, kSimd);
      simdgroup_barrier(space);
    }
  }
}
