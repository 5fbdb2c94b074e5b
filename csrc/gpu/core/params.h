// Scalar parameters of the GPU kernels, shared by CUDA and Metal (Metal passes buffers
// separately, so these hold sizes and strides only). Fixed-width fields, checked sizes.
#pragma once

#include "gpu/core/dialect.h"

namespace mlx_sparse::gpu {

// spmv / spmm / their transposed scatter: out[b] = A_b @ B[b] (or A_b^T @ B[b]).
// data[batch?, nnz], B[batch?, rows_b, k], out[batch, rows_out, k]; stride 0 broadcasts.
struct ProductArgs {
  int64_t m;           // rows of the structure being walked
  int64_t n;           // its column count (bound of the column indices)
  int64_t nnz;
  int64_t k;           // dense columns (1 for spmv)
  int64_t rows_out;
  int64_t data_stride;
  int64_t b_stride;
  int64_t out_stride;
};
static_assert(sizeof(ProductArgs) == 64, "ProductArgs layout is shared with Metal");

// sddmm: out[b, e] = <G[b, row(e)], B[b, col(e)]>, G[batch?, m, k], B[batch?, n, k].
struct SddmmArgs {
  int64_t m;
  int64_t n;
  int64_t nnz;
  int64_t k;
  int64_t g_stride;
  int64_t b_stride;
  int64_t batch;
  int64_t lanes; // lanes per entry
};
static_assert(sizeof(SddmmArgs) == 64, "SddmmArgs layout is shared with Metal");

// Elementwise passes over `count` items of a batch (todense, sum_duplicates, rows, fills).
struct EntryArgs {
  int64_t m;
  int64_t n;
  int64_t nnz;
  int64_t count;       // items per batch entry (e.g. n_out, m * n)
  int64_t data_stride;
  int64_t batch;
};
static_assert(sizeof(EntryArgs) == 48, "EntryArgs layout is shared with Metal");

// spgemm: A[m, b_rows] @ B[b_rows, n_cols_b], numeric (on C's pattern) and symbolic.
struct SpgemmArgs {
  int64_t m;
  int64_t a_nnz;
  int64_t b_rows;
  int64_t b_nnz;
  int64_t c_nnz;
  int64_t n_cols_b;
};
static_assert(sizeof(SpgemmArgs) == 48, "SpgemmArgs layout is shared with Metal");

// flash_attention: q[B, lq, d], k[B, lk, d], v[B, lk, dv], block size bs, n_blocks stored
// blocks of the attention layout (docs/developer/flash_attention.md).
struct AttentionArgs {
  int64_t batch;
  int64_t lq;
  int64_t lk;
  int64_t d;
  int64_t dv;
  int64_t bs;
  int64_t n_blocks;
  float scale;
  int32_t has_bias;
  int32_t has_mask;
  int32_t pad;
};
static_assert(sizeof(AttentionArgs) == 72, "AttentionArgs layout is shared with Metal");

} // namespace mlx_sparse::gpu
