// The bitonic network that sorts a row's segment in place (transpose's stable permutations,
// spgemm's output columns), shared by CUDA and Metal: v[0, len) padded to a power of two
// with +infinity; every comparator puts the smaller value first, so the padding never moves
// and is simply skipped. Each stage is barrier-free: the backend syncs its lanes between.
#pragma once

#include "gpu/core/dialect.h"

namespace mlx_sparse::gpu {

// The padded size: the least power of two >= len.
MS_FN int64_t bitonic_size(int64_t len) {
  int64_t size = 1;
  while (size < len) {
    size <<= 1;
  }
  return size;
}

// This lane's comparators of one stage within blocks of `block`: the flip (d == 0, i
// against its mirror) or the half-cleaner at distance d.
// P: a pointer to global (device) or shared (threadgroup) memory.
template <typename P>
MS_FN void bitonic_stage(P v, int64_t len, int64_t size, int64_t block, int64_t d, int lane,
                         int lanes) {
  for (int64_t t = lane; t < size / 2; t += lanes) {
    const int64_t half = d == 0 ? block / 2 : d;
    const int64_t i = (t / half) * 2 * half + t % half;
    const int64_t j = d == 0 ? (t / half) * block + block - 1 - t % half : i + d;
    if (j < len && v[j] < v[i]) {
      const auto s = v[i];
      v[i] = v[j];
      v[j] = s;
    }
  }
}

} // namespace mlx_sparse::gpu
