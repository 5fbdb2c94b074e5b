// Host-side helpers of the GPU evaluation (csrc/gpu/*_gpu.cpp): kernel names, launch
// geometry (blocks of kBlock threads, SIMD groups of 32 on every backend) and batch strides.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/core/params.h"
#include "gpu/core/sizes.h"
#include "gpu/core/spgemm.h"
#include "mlx/array.h"
#include "mlx/dtype.h"

namespace mlx_sparse::gpu {

inline std::string value_name(const char* op, mlx::core::Dtype t) {
  if (t == mlx::core::float32) return "float32";
  if (t == mlx::core::float16) return "float16";
  if (t == mlx::core::bfloat16) return "bfloat16";
  throw std::invalid_argument(std::string("[") + op +
                              "] float64 is not supported on the GPU; use the CPU "
                              "(stream=mx.cpu) or float32.");
}

inline std::string index_name(mlx::core::Dtype t) {
  return t == mlx::core::int64 ? "int64" : "int32";
}

// <op>_<variant>_<value dtype>_<index dtype>
inline std::string kernel_name(const char* op, const std::string& variant,
                               mlx::core::Dtype value, mlx::core::Dtype index) {
  return variant + "_" + value_name(op, value) + "_" + index_name(index);
}

// Blocks of `block` threads covering `threads` (grid-stride kernels may get fewer).
inline unsigned blocks_for(int64_t threads, unsigned block = kBlock) {
  const int64_t b = (threads + block - 1) / block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 0x7fffffffLL ? 0x7fffffffLL : b));
}

// A grid for grid-stride kernels: enough blocks to fill the GPU, no more.
inline unsigned stride_blocks(int64_t threads) {
  const unsigned b = blocks_for(threads);
  return b > 8192 ? 8192 : b;
}

// Elements between batch entries of an operand whose core part has `core` elements:
// 0 when the operand is shared by the whole batch.
inline int64_t batch_stride(const mlx::core::array& a, int64_t core, int64_t batch) {
  return batch > 1 && static_cast<int64_t>(a.size()) == core ? 0 : core;
}

// Threads per block of the spgemm hash kernels (each warp has its shared table).
constexpr unsigned kSpgemmBlock = kSpgemmWarps * kSimdWidth;

// spgemm's symbolic sizes from its inputs (a_indptr, a_indices, b_indptr, b_indices, ...).
inline SpgemmArgs spgemm_symbolic_args(const std::vector<mlx::core::array>& in, int64_t n_cols_b,
                                       int64_t c_nnz) {
  return SpgemmArgs{static_cast<int64_t>(in[0].size()) - 1, static_cast<int64_t>(in[1].size()),
                    static_cast<int64_t>(in[2].size()) - 1, static_cast<int64_t>(in[3].size()),
                    c_nnz, n_cols_b};
}

// sddmm lanes per entry: enough for k / 4 columns each, 1 to 32.
inline int64_t sddmm_lanes(int64_t k) {
  int64_t lanes = 1;
  while (lanes < 32 && lanes * 4 < k) {
    lanes <<= 1;
  }
  return lanes;
}

// Sizes and strides of a product (spmv or spmm, plain or transposed) from its inputs
// (indptr, indices, data, B, ...) and its output; batch = 0 for an empty output.
struct ProductShape {
  ProductArgs args;
  int64_t batch;
};

inline ProductShape product_shape(bool vector, int64_t n_cols, bool transpose,
                                  const std::vector<mlx::core::array>& in,
                                  const mlx::core::array& out) {
  const auto &data = in[2], &b = in[3];
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t k = vector ? 1 : b.shape(-1);
  const int64_t rows_b = transpose ? m : n_cols, rows_out = transpose ? n_cols : m;
  const int64_t batch = rows_out * k == 0 ? 0 : static_cast<int64_t>(out.size()) / (rows_out * k);
  return {ProductArgs{m, n_cols, nnz, k, rows_out, batch_stride(data, nnz, batch),
                      batch_stride(b, rows_b * k, batch), rows_out * k},
          batch};
}

// How a product walks its structure (a.m rows, a.nnz entries, the longest row max_row, -1
// when not known). by_row: a group of lanes per row (spmv_row_group_l{lanes}; for spmm a
// warp per row and column tile, spmm_row_warp_w{w}), one kernel, no atomics; chosen when no
// row is long enough to stall its group past the average work of a resident group
// (kShortRow entries per 32 lanes at least). Otherwise nnz_split: chunks of `chunk` entries
// that balance any row lengths, added into a zero-filled float32 accumulator.
struct ProductPlan {
  bool by_row;
  std::string variant;
  unsigned grid[3];
  int64_t chunk; // nnz_split: entries per chunk (kSpmvChunk, kSpmmChunk)
};

constexpr int64_t kResidentGroups = 8192; // about as many warps as a large GPU keeps resident
constexpr int64_t kShortRow = 256;        // rows this long never stall a group for long

// MLX_SPARSE_GPU_LANES=1..32 fixes spmv's lanes per row (for tuning runs).
inline int spmv_lanes(int64_t mean) {
  static const int fixed = [] {
    const char* v = std::getenv("MLX_SPARSE_GPU_LANES");
    return v ? std::atoi(v) : 0;
  }();
  int lanes = 1; // about 4 entries per lane: measured on an H200, fewer lanes per row win
  while (lanes < 32 && (fixed ? lanes < fixed : lanes * 4 < mean)) {
    lanes <<= 1;
  }
  return lanes;
}

inline ProductPlan product_plan(const ProductArgs& a, int64_t max_row, unsigned batch) {
  const bool vector = a.k == 1;
  const int64_t mean = a.m > 0 ? (a.nnz + a.m - 1) / a.m : 0;
  const int lanes = vector ? spmv_lanes(mean) : 32;
  const int w = a.k >= 128 ? 4 : (a.k >= 64 ? 2 : 1);
  const unsigned tiles = static_cast<unsigned>((a.k + 32 * w - 1) / (32 * w));
  const int64_t per_group = a.nnz / kResidentGroups;
  const int64_t longest = (per_group > kShortRow ? per_group : kShortRow) / 32 * lanes;
  if (a.nnz > 0 && max_row >= 0 && max_row <= longest) {
    if (vector) {
      return {true, "spmv_row_group_l" + std::to_string(lanes),
              {blocks_for(a.m * lanes), batch, 1}, 0};
    }
    return {true, "spmm_row_warp_w" + std::to_string(w), {blocks_for(a.m * 32), tiles, batch}, 0};
  }
  if (vector) {
    const int64_t chunk = kSpmvChunk;
    return {false, "spmv_nnz_split", {blocks_for((a.nnz + chunk - 1) / chunk * kBlock), batch, 1},
            chunk};
  }
  const int64_t chunk = kSpmmChunk;
  return {false, "spmm_nnz_split_w" + std::to_string(w),
          {blocks_for((a.nnz + chunk - 1) / chunk * 32), tiles, batch}, chunk};
}

} // namespace mlx_sparse::gpu
