#include "cpu/scratch.h"

#include <algorithm>

#include "cpu/convolve2d.h"
#include "cpu/thread_pool.h"

namespace mlx_sparse::cpu {

namespace {
int64_t value_bytes(ValueType v) {
  return v == ValueType::float64 ? 8 : v == ValueType::float32 ? 4 : 2;
}
// Accumulators are float32 for the 16-bit types, the value type otherwise.
int64_t acc_bytes(ValueType v) {
  return v == ValueType::float64 ? 8 : 4;
}
bool narrow(ValueType v) {
  return value_bytes(v) == 2;
}
} // namespace

int64_t work_parts(int64_t work) {
  const int64_t threads = num_threads();
  return work >= kSerialWork && threads > 1 ? std::min<int64_t>(kMaxParts, threads * 4) : 1;
}

int64_t scratch_bytes(ProductParams& p) {
  const int64_t n = p.a.n, k = p.k;
  if (!p.transpose) { // a gather: spmv with perm first copies A's values into A^T's order
    if (k != 1) {
      return 0;
    }
    const int64_t perm_copy = p.perm ? p.a.nnz * p.batch * value_bytes(p.vtype) : 0;
    // spmv: two partial sums (8 bytes each) per chunk of entries for rows across chunks
    return spmv_pieces_offset(perm_copy) + p.batch * spmv_chunks(p.a.nnz) * 2 * 8;
  }
  // A^T @ B by scattering: each thread's block of rows into its own accumulator, summed
  const int64_t threads = (p.a.nnz + p.a.m) * k >= kSerialWork ? num_threads() : 1;
  const int64_t one = std::max<int64_t>(1, n * k * acc_bytes(p.vtype));
  const int64_t budget = std::max<int64_t>(1, kAccumulatorBytes / one);
  p.parts = std::max<int64_t>(1, std::min(threads, budget));
  const bool direct = !narrow(p.vtype); // accumulator 0 is the output itself
  return (direct ? p.parts - 1 : p.parts) * n * k * acc_bytes(p.vtype);
}

int64_t scratch_bytes(TodenseParams& p) {
  const int64_t rows = p.a.m * p.batch;
  const int64_t work = (p.a.nnz + p.a.m * p.a.n / 8) * p.batch;
  p.parts = std::max<int64_t>(1, std::min(work_parts(work), rows));
  return narrow(p.vtype) ? p.parts * p.a.n * 4 : 0;
}

int64_t scratch_bytes(TransposeParams& p) {
  // few enough blocks that blocks x (n + 1) counters stay small
  const int64_t n = p.a.n;
  int64_t blocks = p.a.nnz + p.a.m < kSerialWork ? 1 : std::min<int64_t>(num_threads(), kMaxParts);
  p.parts = std::max<int64_t>(1, std::min<int64_t>(blocks, (int64_t(1) << 26) / (n + 1)));
  return p.parts * (n + 1) * 8;
}

int64_t scratch_bytes(SumDuplicatesParams& p) {
  return narrow(p.vtype) ? p.n_out * 4 : 0;
}

int64_t scratch_bytes(SpgemmParams& p) {
  const int64_t n = p.c.n;
  const int64_t dense = n * (acc_bytes(p.vtype) + 1); // accumulator and mask per block
  if (dense <= kSpgemmDenseBytes) {
    const int64_t fit = kSpgemmDenseBytes / std::max<int64_t>(1, dense);
    p.parts = std::max<int64_t>(1, std::min(work_parts(p.c.nnz * 8), fit));
    return p.parts * dense;
  }
  p.parts = 0; // positional: a float32 per entry of C for 16-bit values, else none
  return narrow(p.vtype) ? p.c.nnz * 4 : 0;
}

int64_t scratch_bytes(Convolve2dParams& p) {
  const auto& g = p.g;
  const int64_t acc = acc_bytes(p.vtype), plane = (g.c_out * g.h_out * g.w_out + kConvLanes) * acc;
  const int64_t fit = kSpgemmDenseBytes / std::max<int64_t>(1, plane); // >= 1: the op checks
  p.parts = std::max<int64_t>(
      1, std::min({work_parts(p.x.nnz * g.kh * g.kw * g.c_out), fit, p.x.m}));
  return g.c_out * g.c_in * g.kh * conv_row_stride(g.kw) * acc + p.parts * plane;
}

int64_t attention_tile_floats(const gpu::AttentionArgs& a) {
  return a.bs * (4 * a.d + 4 * a.dv + 2 * a.bs + 4);
}

int64_t scratch_bytes(AttentionParams& p) {
  const auto& a = p.a;
  const int64_t rows = a.batch * std::max(a.lq, a.lk) / std::max<int64_t>(1, a.bs);
  const int64_t work = a.n_blocks * a.bs * a.bs * (a.d + a.dv);
  p.parts = std::max<int64_t>(1, std::min(work_parts(work), rows));
  const int64_t delta = p.d_o ? a.batch * a.lq : 0;
  return (delta + p.parts * attention_tile_floats(a)) * 4;
}

} // namespace mlx_sparse::cpu
