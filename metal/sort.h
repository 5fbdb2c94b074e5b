// Per-row sort on Metal, as csrc/cuda/kernels/sort.cuh: shared by transpose (stable
// permutations) and spgemm's symbolic phase (columns of C's rows); a SIMD group sorts one
// segment in place.
#pragma once

#include "common.h"
#include "gpu/core/sort.h"

// Syncs the SIMD group's lanes over the memory a segment lives in.
template <typename T>
inline void sync_lanes(device T*) {
  simdgroup_barrier(mem_flags::mem_device);
}
template <typename T>
inline void sync_lanes(threadgroup T*) {
  simdgroup_barrier(mem_flags::mem_threadgroup);
}

// A SIMD group sorts v[0, len) (gpu/core/sort.h; v in device or threadgroup memory),
// syncing its lanes between stages.
template <typename P>
inline void sort_segment(P v, int64_t len, int lane) {
  const int64_t size = bitonic_size(len);
  for (int64_t block = 2; block <= size; block <<= 1) {
    bitonic_stage(v, len, size, block, int64_t(0), lane, kSimd); // the flip
    sync_lanes(v);
    for (int64_t d = block / 4; d > 0; d >>= 1) { // the half-cleaners
      bitonic_stage(v, len, size, block, d, lane, kSimd);
      sync_lanes(v);
    }
  }
}
