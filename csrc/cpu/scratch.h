// How the CPU kernels split their work and how much scratch memory they need, decided in
// eval_cpu (on the thread that called mx.eval, where an allocation may fail and throw) so
// that a kernel on MLX's stream thread allocates nothing.
#pragma once

#include <cstdint>

#include "params.h"

namespace mlx_sparse::cpu {

constexpr int64_t kMaxParts = 256;
// Work (in multiply-adds) below which a kernel runs on the calling thread alone.
constexpr int64_t kSerialWork = 1 << 15;
// Private accumulators of the transposed product (A^T @ B by scattering) stay within this.
constexpr int64_t kAccumulatorBytes = int64_t(64) << 20;
// Dense per-block accumulators of spgemm's numeric phase stay within this; wider outputs
// search C's columns instead.
constexpr int64_t kSpgemmDenseBytes = int64_t(256) << 20;

// Row blocks for `work` multiply-adds: 1 when small, else 4 per thread, at most kMaxParts.
int64_t work_parts(int64_t work);

// spmv splits its entries into fixed chunks of kSpmvChunk (the tasks; a row across chunks is
// summed in pieces), so one long row never holds a product on one thread, and the sums are the
// same for any number of threads. At least one chunk.
constexpr int64_t kSpmvChunk = 8192;
inline int64_t spmv_chunks(int64_t entries) {
  return entries <= kSpmvChunk ? 1 : (entries + kSpmvChunk - 1) / kSpmvChunk;
}
// Where its partial sums start in the scratch, after `bytes` of copied values (aligned).
inline int64_t spmv_pieces_offset(int64_t bytes) {
  return (bytes + 15) / 16 * 16;
}

// Bytes of scratch each kernel needs; sets p.parts where the kernel splits by it.
int64_t scratch_bytes(ProductParams& p);
int64_t scratch_bytes(TodenseParams& p);
int64_t scratch_bytes(TransposeParams& p);
int64_t scratch_bytes(SumDuplicatesParams& p);
int64_t scratch_bytes(SpgemmParams& p);
int64_t scratch_bytes(Convolve2dParams& p);
// flash_attention: float tiles per part, and for the backward (d_o set) delta first.
int64_t scratch_bytes(AttentionParams& p);
// Floats of one part's tiles (kernels/flash_attention.cpp lays them out).
int64_t attention_tile_floats(const gpu::AttentionArgs& a);

} // namespace mlx_sparse::cpu
