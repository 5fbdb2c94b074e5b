// Per-element pieces of block-sparse flash attention (docs/developer/flash_attention.md),
// shared by the CUDA kernels (csrc/cuda/kernels/flash_attention.cu) and a later Metal one:
// a score, the online-softmax update of one row and the backward's weights. Each lane owns
// some rows of a (bs x bs) score tile; the row reductions across lanes stay per backend.
#pragma once

#include "gpu/core/csr.h"

namespace mlx_sparse::gpu {

#if defined(__METAL_VERSION__) || defined(MLX_SPARSE_METAL_CHECK)
#define MS_NEG_INF (-INFINITY)
#else
#define MS_NEG_INF (-__builtin_huge_valf())
#endif

// Batch entry and block of the x-th thread group over `batch` * mb block rows (or columns),
// taken block-major (all batch entries' block 0 first): global blocks, which layouts put
// first, are the longest and then start first instead of trailing the grid.
struct BlockRow {
  int64_t b;
  int64_t i;
};
MS_FN BlockRow attention_block_row(int64_t x, int64_t batch) {
  return {x % batch, x / batch};
}

// Element (row, col) of stored block e, in bias[n_blocks, bs, bs] and mask's layout.
MS_FN int64_t attention_block_entry(int64_t e, int bs, int row, int col) {
  return (e * bs + row) * bs + col;
}

// scale <q, k> + bias, or -inf where the mask marks the pair (1 = masked).
MS_FN float attention_score(float dot, float scale, float bias, bool masked) {
  return masked ? MS_NEG_INF : dot * scale + bias;
}

// One row's online softmax: folds a tile's maximum into the running maximum and returns
// the factor that rescales what was accumulated so far (1 while the row has seen nothing).
MS_FN float online_softmax_rescale(MS_THREAD float& running_max, float tile_max) {
  const float next = running_max > tile_max ? running_max : tile_max;
  const float factor = next == MS_NEG_INF ? 1.0f : exp(running_max - next);
  running_max = next;
  return factor;
}

// exp(score - max), 0 for masked scores and for rows that have seen only masked ones.
MS_FN float softmax_weight(float score, float running_max) {
  return running_max == MS_NEG_INF ? 0.0f : exp(score - running_max);
}

// The natural log-sum-exp of a finished row, -inf where it has no unmasked column.
MS_FN float softmax_lse(float running_max, float sum) {
  return sum > 0.0f ? running_max + log(sum) : MS_NEG_INF;
}

// o = acc / sum, 0 for a row with no unmasked column.
MS_FN float softmax_normalise(float acc, float sum) {
  return sum > 0.0f ? acc / sum : 0.0f;
}

// Backward: p = exp(score - lse) (0 where lse is -inf: the row had no column), and the
// score's gradient ds = p (dp - delta) with delta = rowsum(dO * o) - dlse.
MS_FN float attention_weight(float score, float lse) {
  return lse == MS_NEG_INF ? 0.0f : exp(score - lse);
}
MS_FN float attention_dscore(float p, float dp, float delta) {
  return p * (dp - delta);
}

} // namespace mlx_sparse::gpu
