// The MLX primitives behind ops.h. Each backend defines eval_cpu / eval_gpu in its own
// folder (cpu/, gpu/); transforms (vjp, jvp, vmap) live beside the op in ops/.
#pragma once

#include "mlx/primitives.h"
#include "ops.h"
#include "params.h"

namespace mlx_sparse {

using mlx::core::array;
using mlx::core::Primitive;
using mlx::core::Shape;
using mlx::core::Stream;
using mlx::core::UnaryPrimitive;

#define MLX_SPARSE_TRANSFORMS()                                                              \
  std::vector<array> vjp(const std::vector<array>& primals,                                  \
                         const std::vector<array>& cotangents,                               \
                         const std::vector<int>& argnums,                                    \
                         const std::vector<array>& outputs) override;                        \
  std::vector<array> jvp(const std::vector<array>& primals,                                  \
                         const std::vector<array>& tangents,                                 \
                         const std::vector<int>& argnums) override;                          \
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,     \
                                                       const std::vector<int>& axes) override; \
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;

#define MLX_SPARSE_EVAL()                                                     \
  void eval_cpu(const std::vector<array>& inputs, array& out) override;      \
  void eval_gpu(const std::vector<array>& inputs, array& out) override;

// inputs: indptr, indices, data[..., nnz], x[..., n or m], and when transpose, possibly A^T's
// structure (indptr_t, indices_t, perm) to gather over. A plain product may keep A^T's
// structure as `riding` instead: not read by the kernels (no inputs to track per call),
// only handed to the transposed products of its gradient.
class CsrSpmv : public UnaryPrimitive {
 public:
  CsrSpmv(Stream s, int64_t n_cols, bool transpose, RowLengths lengths,
      std::vector<array> riding = {})
      : UnaryPrimitive(s), n_cols_(n_cols), transpose_(transpose), lengths_(lengths),
        riding_(std::move(riding)) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSpmv"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_;
  bool transpose_;
  RowLengths lengths_;
  std::vector<array> riding_;
};

// inputs: indptr, indices, data[..., nnz], B[..., n or m, k], and when transpose, possibly A^T's
// structure (indptr_t, indices_t, perm) to gather over. A plain product may keep A^T's
// structure as `riding` instead: not read by the kernels (no inputs to track per call),
// only handed to the transposed products of its gradient.
class CsrSpmm : public UnaryPrimitive {
 public:
  CsrSpmm(Stream s, int64_t n_cols, bool transpose, RowLengths lengths,
      std::vector<array> riding = {})
      : UnaryPrimitive(s), n_cols_(n_cols), transpose_(transpose), lengths_(lengths),
        riding_(std::move(riding)) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSpmm"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_;
  bool transpose_;
  RowLengths lengths_;
  std::vector<array> riding_;
};

// inputs: indptr, indices, G[..., m, k], B[..., n, k]
class CsrSddmm : public UnaryPrimitive {
 public:
  explicit CsrSddmm(Stream s) : UnaryPrimitive(s) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSddmm"; }
  bool is_equivalent(const Primitive&) const override { return true; }
};

// inputs: indptr, indices, data[..., nnz]
class CsrTodense : public UnaryPrimitive {
 public:
  CsrTodense(Stream s, int64_t n_cols) : UnaryPrimitive(s), n_cols_(n_cols) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrTodense"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_;
};

// inputs: data[..., n_in], slot[n_in]
class CsrSumDuplicates : public UnaryPrimitive {
 public:
  CsrSumDuplicates(Stream s, int64_t n_out) : UnaryPrimitive(s), n_out_(n_out) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSumDuplicates"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_out_;
};

// inputs: a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, c_indptr, c_indices
class CsrSpgemm : public UnaryPrimitive {
 public:
  CsrSpgemm(Stream s, int64_t n_cols_b) : UnaryPrimitive(s), n_cols_b_(n_cols_b) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSpgemm"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_b_;
};

// inputs: x_indptr, x_indices, x_data, k, t_indptr, t_indices, t_kernel, c_indptr, c_indices
// (T^T's pattern and kernel index are read by the gradients only). CPU streams only: on GPU
// streams csr_convolve2d builds the SpGEMM X @ T^T instead.
class CsrConvolve2d : public UnaryPrimitive {
 public:
  CsrConvolve2d(Stream s, Conv2dGeometry g) : UnaryPrimitive(s), g_(g) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrConvolve2d"; }
  bool is_equivalent(const Primitive& other) const override;
  Conv2dGeometry g_;
};

// inputs: indptr, indices, data[..., nnz] -> the row-wise softmax of the stored values
class CsrSoftmax : public UnaryPrimitive {
 public:
  CsrSoftmax(Stream s, int64_t n_cols) : UnaryPrimitive(s), n_cols_(n_cols) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrSoftmax"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_;
};

// Structural primitives (integer outputs, nothing to differentiate).
// inputs: indptr, indices -> indptr_t, indices_t, perm
class CsrTranspose : public Primitive {
 public:
  CsrTranspose(Stream s, int64_t n_cols) : Primitive(s), n_cols_(n_cols) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrTranspose"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_;
};

// inputs: x -> x, row-major (ops/common.cpp's prepare on CPU streams: a tiled, threaded copy
// where MLX's element-wise one is slow, e.g. a transposed operand). The identity to every
// transform. CPU streams only: GPU streams take MLX's contiguous.
class ContiguousCopy : public UnaryPrimitive {
 public:
  explicit ContiguousCopy(Stream s) : UnaryPrimitive(s) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "ContiguousCopy"; }
  bool is_equivalent(const Primitive&) const override { return true; }
};

// inputs: indptr, data[..., nnz], rows[k], new_indptr[k + 1] -> the values of A[rows],
// data[..., new_nnz] (csr_row_gather_structure gives new_indptr and the new indices).
// CPU streams only: on GPU streams csr_row_gather is a take of MLX's.
class CsrRowGather : public UnaryPrimitive {
 public:
  explicit CsrRowGather(Stream s) : UnaryPrimitive(s) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "CsrRowGather"; }
  bool is_equivalent(const Primitive&) const override { return true; }
};

// One unpreconditioned cg iteration, fused (CPU streams only; linalg.cg steps with MLX ops
// elsewhere). inputs: indptr, indices, data, state [x | r | p | Ap | rz, go, it], tol2 ->
// the next state. Not differentiable: the solvers differentiate by the implicit rule.
class CsrCgStep : public UnaryPrimitive {
 public:
  explicit CsrCgStep(Stream s) : UnaryPrimitive(s) {}
  MLX_SPARSE_EVAL()
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrCgStep"; }
  bool is_equivalent(const Primitive&) const override { return true; }
};

// inputs: indptr, indices -> rows
class CsrRows : public UnaryPrimitive {
 public:
  explicit CsrRows(Stream s) : UnaryPrimitive(s) {}
  MLX_SPARSE_EVAL()
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrRows"; }
  bool is_equivalent(const Primitive&) const override { return true; }
};

// spgemm's symbolic phase (gpu/core/spgemm.h has the workspace layout).
// inputs: a_indptr, a_indices, b_indptr, b_indices -> offsets[m + 1] (int64) of the rows'
// hash tables in the GPU workspace
class CsrSpgemmWorkspace : public UnaryPrimitive {
 public:
  CsrSpgemmWorkspace(Stream s, int64_t n_cols_b) : UnaryPrimitive(s), n_cols_b_(n_cols_b) {}
  MLX_SPARSE_EVAL()
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrSpgemmWorkspace"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_b_;
};

// inputs: a_indptr, a_indices, b_indptr, b_indices, workspace -> c_indptr[m + 1] (int64)
class CsrSpgemmCount : public UnaryPrimitive {
 public:
  CsrSpgemmCount(Stream s, int64_t n_cols_b, int64_t slots)
      : UnaryPrimitive(s), n_cols_b_(n_cols_b), slots_(slots) {}
  MLX_SPARSE_EVAL()
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrSpgemmCount"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_b_;
  int64_t slots_; // workspace[m]
};

// inputs: a_indptr, a_indices, b_indptr, b_indices, workspace, c_indptr -> c_indices[nnz]
class CsrSpgemmFill : public UnaryPrimitive {
 public:
  CsrSpgemmFill(Stream s, int64_t n_cols_b, int64_t slots, int64_t nnz)
      : UnaryPrimitive(s), n_cols_b_(n_cols_b), slots_(slots), nnz_(nnz) {}
  MLX_SPARSE_EVAL()
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "CsrSpgemmFill"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t n_cols_b_;
  int64_t slots_;
  int64_t nnz_; // c_indptr[m]
};

// flash_attention (docs/developer/flash_attention.md has the full contract). inputs: q[B, Lq, d],
// k[B, Lk, d], v[B, Lk, dv], then the attention layout as int32 block CSR row_ptr, col and its
// transpose t_ptr, t_row, t_block, then bias[n_blocks, bs, bs] when has_bias and mask
// (uint8, 1 = masked) when has_mask. outputs: o[B, Lq, dv] and lse[B, Lq] (float32).
class FlashAttention : public Primitive {
 public:
  FlashAttention(Stream s, int block_size, float scale, bool has_bias, bool has_mask)
      : Primitive(s), block_size_(block_size), scale_(scale), has_bias_(has_bias),
        has_mask_(has_mask) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "FlashAttention"; }
  bool is_equivalent(const Primitive& other) const override;
  int block_size_;
  float scale_;
  bool has_bias_;
  bool has_mask_;
};

// inputs: FlashAttention's, then o, lse, do (the cotangent of o, o's dtype) and dlse (the
// cotangent of lse, float32[B, Lq]). delta = rowsum(do * o) - dlse. outputs: dq, dk, dv, and
// dbias[n_blocks, bs, bs] when has_bias. Its vjp and jvp differentiate the same formulas written
// with MLX ops on the layout's blocks (ops/flash_attention_transforms.cpp), so it differentiates
// again, in either mode.
class FlashAttentionGrad : public Primitive {
 public:
  FlashAttentionGrad(Stream s, int block_size, float scale, bool has_bias, bool has_mask)
      : Primitive(s), block_size_(block_size), scale_(scale), has_bias_(has_bias),
        has_mask_(has_mask) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums,
                         const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  const char* name() const override { return "FlashAttentionGrad"; }
  bool is_equivalent(const Primitive& other) const override;
  int block_size_;
  float scale_;
  bool has_bias_;
  bool has_mask_;
};

// inputs: indptr, indices, data[..., nnzb, R, C], X[..., Nb * C, k]. A^T's block structure
// (indptr_t, indices_t, perm), when the caller has it, rides along for the gradient only.
class BsrSpmm : public UnaryPrimitive {
 public:
  BsrSpmm(Stream s, std::vector<array> riding = {}) : UnaryPrimitive(s), riding_(std::move(riding)) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "BsrSpmm"; }
  bool is_equivalent(const Primitive& other) const override;
  std::vector<array> riding_;
};

// inputs: indptr, indices, G[..., Mb * R, k], B[..., Nb * C, k] -> [..., nnzb, R, C]. A^T's
// block structure, when the caller has it, rides along for the gradients only.
class BsrSddmm : public UnaryPrimitive {
 public:
  BsrSddmm(Stream s, int64_t block_rows, int64_t block_cols, std::vector<array> riding = {})
      : UnaryPrimitive(s), block_rows_(block_rows), block_cols_(block_cols),
        riding_(std::move(riding)) {}
  MLX_SPARSE_EVAL()
  MLX_SPARSE_TRANSFORMS()
  const char* name() const override { return "BsrSddmm"; }
  bool is_equivalent(const Primitive& other) const override;
  int64_t block_rows_;
  int64_t block_cols_;
  std::vector<array> riding_;
};

#undef MLX_SPARSE_EVAL
#undef MLX_SPARSE_TRANSFORMS

} // namespace mlx_sparse
