// Helpers shared by the ops: validation with the op's name, dtype promotion, batching.
#pragma once

#include <string>
#include <vector>

#include "mlx/ops.h"
#include "ops.h"

namespace mlx_sparse::detail {

namespace mx = mlx::core;

// Whether the ops take the GPU's path on stream s (structural steps as lazy primitives rather
// than on the host): on a GPU stream, and in the Metal emulator's tests (csrc/emu/emulator.h).
bool gpu_path(mx::Stream s);


// indptr / indices: 1-D, int32 or int64, the same dtype. Returns m (rows).
int64_t check_structure(const char* op, const array& indptr, const array& indices);

// The floating dtype the op computes in on stream s: the promoted dtype of the operands,
// float32 for integer inputs. Complex and bool are rejected, and float64 on a GPU stream.
mx::Dtype value_dtype(const char* op, const std::vector<array>& operands, mx::Stream s);

// The array in dtype (itself, with no graph node, when it already is).
array cast(const array& a, mx::Dtype dtype, mx::Stream s);

// The array, cast to dtype and made row-contiguous (a no-op for evaluated contiguous arrays).
array prepare(const array& a, mx::Dtype dtype, mx::Stream s);
// x made row-major: ContiguousCopy on CPU streams, MLX's contiguous elsewhere.
array contiguous_copy(const array& x, mx::Stream s);
array prepare_index(const array& a, mx::Stream s);

// An indptr made ready for a kernel. Traced (under mx.compile with traced indices, where it
// cannot have been checked), it is replaced by its running maximum, so that rows never
// overlap: the CSR rule of ops.h. A checked indptr is non-decreasing and passes unchanged.
array prepare_indptr(const array& indptr, mx::Stream s);

// Entry indices (A^T's perm) made ready for a kernel: traced, clipped into [0, nnz), so a
// GPU kernel reading values through them stays in bounds.
array prepare_entries(const array& idx, int64_t nnz, mx::Stream s);

// take(x, idx, axis) for the gradients of a structure that may be unchecked (traced): an
// index outside [0, x.shape(axis)), or where `live` is false, gives 0 instead of a read out
// of bounds. A checked structure's take, when nothing is traced, is plain take.
array take_entries(const array& x, const array& idx, std::optional<array> live, int axis,
                   mx::Stream s);

// Broadcast batch shape of operands whose last `core[i]` dims are not batch dims.
mx::Shape batch_shape(const char* op, const std::vector<array>& operands,
                      const std::vector<int>& core);

// The operand with its batch dims either equal to `batch` or absent (broadcast operands of
// batch size 1 lose their batch dims; others are materialised).
array fit_batch(const array& a, int core, const mx::Shape& batch, mx::Stream s);

// Number of elements of a shape's batch dims.
int64_t batch_size(const array& a, int core);

// Sums x over the dims that broadcasting added, so that it has `shape`.
// data must have shape (..., nnz) with nnz = indices.size().
void check_values(const char* op, const array& data, const array& indices);

array sum_to_shape(const array& x, const mx::Shape& shape, mx::Stream s);

// vmap: puts each operand's mapped axis first and pads batch dims so that all operands'
// batch dims line up; unmapped operands get a leading 1. Index operands must be unmapped.
std::vector<array> vmap_align(const char* op, const std::vector<array>& inputs,
                              const std::vector<int>& axes, const std::vector<int>& core,
                              size_t first_value, mx::Stream s);

[[noreturn]] void throw_index_grad(const char* op);

// `count` (of `what`) as one MLX array dimension: MLX shapes are 32-bit, so a larger count
// throws std::overflow_error naming the op, never narrows. Every shape an op builds from
// m, n_cols, nnz or a batch size goes through here (a count that fits also fits int32
// indices).
int dim(const char* op, int64_t count, const char* what);

// spgemm's checks of A and B (shared index dtype, n_cols_b, the GPU's 32-bit column hash);
// returns A's row count.
int64_t check_spgemm_operands(const array& a_indptr, const array& a_indices,
                              const array& b_indptr, const array& b_indices, int64_t n_cols_b,
                              mx::Stream s);

// A std::bad_alloc (Python: MemoryError) whose message names the op and what ran out.
[[noreturn]] void throw_out_of_memory(const char* op, const char* doing);

// coo_tocsr's error for entry e at (r, c) outside the shape (m, n), the same on every path.
[[noreturn]] void throw_coo_out_of_range(int64_t e, int64_t r, int64_t c, int64_t m, int64_t n);

// coo_tocsr's host path (cpu/symbolic.cpp), on checked rows/cols of one index dtype.
std::vector<array> coo_tocsr_host(const array& rows, const array& cols, int64_t m, int64_t n,
                                  bool sum_duplicates, mx::Stream s);

// coo_tocsr's GPU path, csr_transpose composed with MLX ops, on any stream (tests run it on
// the CPU). Same checks and results as coo_tocsr.
std::vector<array> coo_tocsr_composed(const array& rows, const array& cols, int64_t m, int64_t n,
                                      bool sum_duplicates, StreamOrDevice s = {});

std::string shape_str(const mx::Shape& shape);

// ---- A^T's structure riding along with the products (ops/transposed.cpp).
// A caller's cached csr_transpose(indptr, indices, n_cols): checked for A^T's shapes and A's
// index dtype (std::invalid_argument naming op and `n_cols_name`), then made kernel-ready.
std::vector<array> prepare_transposed(const char* op, const std::vector<array>& t,
                                      const array& indptr, const array& indices, int64_t n_cols,
                                      const char* n_cols_name, mx::Stream s);

// Two primitives are equivalent only if they carry the same A^T structure (the same arrays).
bool same_arrays(const std::vector<array>& a, const std::vector<array>& b);

// A block CSR A^T's structure: the riding one when the caller gave it, else built now.
std::vector<array> bsr_transposed_structure(const std::vector<array>& riding,
                                            const array& indptr, const array& indices,
                                            int64_t n_block_cols, mx::Stream s);

// Values of A^T's blocks over that structure: block q of A^T is blocks[..., perm[q], :, :]
// transposed (blocks: A's, or a cotangent shaped like them).
array bsr_transposed_blocks(const array& blocks, const array& perm, mx::Stream s);

} // namespace mlx_sparse::detail
