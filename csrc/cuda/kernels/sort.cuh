// Per-row sort on CUDA, shared by transpose (stable permutations) and spgemm's symbolic
// phase (columns of C's rows): a warp sorts one segment in place.
#pragma once

#include "common.cuh"
#include "gpu/core/sort.h"

namespace mlx_sparse::gpu {

// A warp sorts v[0, len) (gpu/core/sort.h), syncing its lanes between stages.
template <typename I>
__device__ __forceinline__ void sort_segment(I* v, int64_t len, int lane) {
  const int64_t size = bitonic_size(len);
  for (int64_t block = 2; block <= size; block <<= 1) {
    bitonic_stage(v, len, size, block, int64_t(0), lane, kWarp); // the flip
    __syncwarp();
    for (int64_t d = block / 4; d > 0; d >>= 1) { // the half-cleaners
      bitonic_stage(v, len, size, block, d, lane, kWarp);
      __syncwarp();
    }
  }
}

} // namespace mlx_sparse::gpu
