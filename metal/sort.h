// Per-row sort on Metal, as csrc/cuda/kernels/sort.cuh: shared by transpose (stable
// permutations) and spgemm's symbolic phase (columns of C's rows); a SIMD group sorts one
// segment in place.
#pragma once

#include "common.h"

// The bitonic network on v[0, len) padded to a power of two with +infinity: comparators all
// put the smaller value first, so the padding never moves and is simply skipped.
template <typename I>
inline void sort_segment(device I* v, int64_t len, int lane) {
  int64_t size = 1;
  while (size < len) {
    size <<= 1;
  }
  for (int64_t block = 2; block <= size; block <<= 1) {
    for (int64_t t = lane; t < size / 2; t += kSimd) { // flip: i against its mirror
      const int64_t i = (t / (block / 2)) * block + t % (block / 2);
      const int64_t j = (t / (block / 2)) * block + block - 1 - t % (block / 2);
      if (j < len && v[j] < v[i]) {
        const I s = v[i];
        v[i] = v[j];
        v[j] = s;
      }
    }
    simdgroup_barrier(mem_flags::mem_device);
    for (int64_t d = block / 4; d > 0; d >>= 1) { // half-cleaners
      for (int64_t t = lane; t < size / 2; t += kSimd) {
        const int64_t i = (t / d) * 2 * d + t % d;
        const int64_t j = i + d;
        if (j < len && v[j] < v[i]) {
          const I s = v[i];
          v[i] = v[j];
          v[j] = s;
        }
      }
      simdgroup_barrier(mem_flags::mem_device);
    }
  }
}
