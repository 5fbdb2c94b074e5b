// mlx_sparse: the op list. Every op takes a CSR matrix as its arrays
//   indptr[m + 1], indices[nnz]  (int32 or int64, the same type), data[..., nnz]
// plus its column count n_cols, and returns lazy MLX arrays built from the primitives in
// primitives.h. Leading dimensions of data and of dense operands are batch dimensions that
// broadcast against each other. The ops check shapes and dtypes (errors name the op:
// std::invalid_argument for bad input; std::overflow_error for a result dimension past
// 2^31 - 1, since MLX shapes are 32-bit); they never read index values.
//
// Validation and the CSR rule. A structure is validated once per pattern, on the host,
// before its first op is built: by the Python layer (CSRArray._require_valid) and by the host
// steps (csr_spgemm_symbolic, coo_tocsr on a CPU stream), which throw naming the op. No
// kernel throws (the CPU's run on MLX's stream thread, where an exception can leave MLX
// 0.32.4 waiting forever) or reads out of bounds. On a structure that was not validated,
// which only a traced one under mx.compile can be, every op on every backend computes:
//   - rows: indptr clamped to [0, nnz] and, being traced, replaced by its running maximum P
//     (P[i] = max of indptr[0..i]): row i holds the entries e with P[i] <= e < P[i + 1], so a
//     decreasing step empties a row, rows never overlap, and entries before P[0] or from P[m]
//     on belong to no row;
//   - columns: an entry whose column is outside [0, n_cols) is skipped;
//   - a skipped entry adds to no sum or product; per-entry results are 0 there (sddmm,
//     softmax, and spgemm's values at C's skipped entries), csr_rows gives -1, csr_transpose
//     places it after A^T's last row (perm stays a permutation), and csr_sum_duplicates skips
//     slots outside [0, n_out); gradients give skipped entries 0.
// A decreasing indptr that is not traced (a C++ caller that skipped validation) still keeps
// every kernel in bounds, but rows are then its clamped ranges, which may overlap.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlx/array.h"
#include "mlx/utils.h"

namespace mlx_sparse {

using mlx::core::array;
using mlx::core::StreamOrDevice;

// The longest row of A and of A^T (-1: not known), which the caller may know from a pass
// over the structure. The GPU picks its product kernels from them (a group of lanes per row
// when no row is long, else load-balanced chunks of entries); results never depend on them.
struct RowLengths {
  int64_t max_row = -1;
  int64_t max_col = -1;
  bool operator==(const RowLengths&) const = default;
};

// y[..., m] = A @ x[..., n], or y[..., n] = A^T @ x[..., m] when transpose.
// `transposed`, when given, is csr_transpose(indptr, indices, n_cols) (a cache the caller
// keeps): A^T @ x then gathers over it, and the gradient of A @ x reuses it.
array csr_spmv(const array& indptr, const array& indices, const array& data, const array& x,
               int64_t n_cols, bool transpose = false, const std::vector<array>& transposed = {},
               RowLengths lengths = {}, StreamOrDevice s = {});

// Y[..., m, k] = A @ B[..., n, k], or Y[..., n, k] = A^T @ B[..., m, k] when transpose.
// `transposed` and `lengths` as for csr_spmv.
array csr_spmm(const array& indptr, const array& indices, const array& data, const array& b,
               int64_t n_cols, bool transpose = false, const std::vector<array>& transposed = {},
               RowLengths lengths = {}, StreamOrDevice s = {});

// out[..., e] = <G[..., row(e), :], B[..., col(e), :]> for each stored entry e of A's pattern.
array csr_sddmm(const array& indptr, const array& indices, const array& g, const array& b,
                StreamOrDevice s = {});

// The row-wise softmax of the stored values, [..., nnz]: exp(d[e] - max) / sum over row(e).
// Empty rows stay empty; duplicate entries count separately (canonicalise first to merge).
array csr_softmax(const array& indptr, const array& indices, const array& data, int64_t n_cols,
                  StreamOrDevice s = {});

// The dense [..., m, n] matrix, duplicates summed.
array csr_todense(const array& indptr, const array& indices, const array& data, int64_t n_cols,
                  StreamOrDevice s = {});

// A^T's structure: {indptr_t[n + 1], indices_t[nnz], perm[nnz]}; A^T's values are
// take(data, perm, -1). Stable, so A^T has sorted indices.
std::vector<array> csr_transpose(const array& indptr, const array& indices, int64_t n_cols,
                                 StreamOrDevice s = {});

// The row of each stored entry (the COO row array), [nnz].
array csr_rows(const array& indptr, const array& indices, StreamOrDevice s = {});

// One unpreconditioned conjugate-gradient iteration on CPU streams, fused. state is
// [x | r | p | Ap | rz, go, it] (4n + 3 values of data's dtype, float32 or float64; rz = r.r,
// go 1 or 0, it the steps taken); go turns 0 once r.r <= tol2 (0-d), and a step where go
// is 0 changes nothing. In place when MLX can hand over the state. Not differentiable.
array csr_cg_step(const array& indptr, const array& indices, const array& data,
                  const array& state, const array& tol2, StreamOrDevice s = {});

// A[rows] for int rows[k] in [0, m) (repeats allowed): the structure on the host,
// [new_indptr, new_indices] (evaluates its inputs; rows out of range raise), and the values,
// data[..., new_nnz], lazily (a row copy on the CPU, MLX's take on the GPU). Differentiable in
// data.
std::vector<array> csr_row_gather_structure(const array& indptr, const array& indices,
                                            const array& rows, StreamOrDevice s = {});
array csr_row_gather(const array& indptr, const array& data, const array& rows,
                     const array& new_indptr, StreamOrDevice s = {});

// Values of the canonical form: out[..., slot[e]] += data[..., e], out[..., n_out].
array csr_sum_duplicates(const array& data, const array& slot, int64_t n_out,
                         StreamOrDevice s = {});

// Values of C = A @ B on a given pattern (c_indptr, c_indices) with unique columns per row;
// products outside that pattern are dropped. The pattern normally comes from
// csr_spgemm_symbolic; a smaller one gives a masked product (used by the gradients).
array csr_spgemm(const array& a_indptr, const array& a_indices, const array& a_data,
                 const array& b_indptr, const array& b_indices, const array& b_data,
                 const array& c_indptr, const array& c_indices, int64_t n_cols_b,
                 StreamOrDevice s = {});

// Values of convolve2d on CSR images: X @ T^T at the pattern (c_indptr, c_indices) from
// csr_convolve2d_symbolic, where T^T (t_indptr, t_indices; t_kernel[e] the entry of k.ravel()
// that entry e holds) is the kernel's transposed Toeplitz matrix, (c_in*h*w, c_out*h_out*w_out).
// x's rows are c_in channel-major h x w images; k is (kh, kw) or (c_out, c_in, kh, kw); sizes
// are [h, w, h_out, w_out, top, left] (where the output starts in the full convolution).
// c must hold every pixel a row reaches (the symbolic pattern, or more: extra entries read
// 0); the CPU kernel clears its accumulator through c. Differentiable in x_data and k.
array csr_convolve2d(const array& x_indptr, const array& x_indices, const array& x_data,
                     const array& k, const array& t_indptr, const array& t_indices,
                     const array& t_kernel, const array& c_indptr, const array& c_indices,
                     const std::vector<int64_t>& sizes, StreamOrDevice s = {});

// ---- spgemm's symbolic phase as lazy structural steps (csr_spgemm_symbolic runs them on
// GPU streams; they run on the CPU too). Each row's distinct columns are found with a hash
// table (gpu/core/spgemm.h); structure only, no gradients. They follow the CSR rule above
// (bad indices skipped, not reported): validate A and B first (the Python layer does).

// Offsets (int64[m + 1]) of the rows' hash tables in the GPU workspace: rows whose table
// fits in shared memory have none.
array csr_spgemm_workspace(const array& a_indptr, const array& a_indices, const array& b_indptr,
                           const array& b_indices, int64_t n_cols_b, StreamOrDevice s = {});

// C's indptr as int64[m + 1]: the running count of distinct columns per row of A @ B.
// `workspace` comes from csr_spgemm_workspace and `slots` is its last value.
array csr_spgemm_count(const array& a_indptr, const array& a_indices, const array& b_indptr,
                       const array& b_indices, const array& workspace, int64_t slots,
                       int64_t n_cols_b, StreamOrDevice s = {});

// C's indices[nnz_c] (A's index dtype): each row's distinct columns, ascending. `c_indptr`
// comes from csr_spgemm_count and `nnz_c` is its last value.
array csr_spgemm_fill(const array& a_indptr, const array& a_indices, const array& b_indptr,
                      const array& b_indices, const array& workspace, int64_t slots,
                      const array& c_indptr, int64_t nnz_c, int64_t n_cols_b,
                      StreamOrDevice s = {});

// ---- Host-side symbolic steps: shapes that depend on index values. These evaluate their
// inputs and return evaluated arrays (on a GPU stream, csr_spgemm_symbolic's may be lazy).

// The canonical pattern of C = A @ B: {indptr[m + 1], indices[nnz_c]}, sorted, unique.
// On a CPU stream, computed on the host (validating A and B, and checking that nnz_c fits
// before collecting C's columns; std::bad_alloc, Python's MemoryError, naming the op when
// memory runs out); on a GPU stream, by the lazy steps above with two reads on the host (the
// workspace size, then nnz_c, checked as soon as it is read).
std::vector<array> csr_spgemm_symbolic(const array& a_indptr, const array& a_indices,
                                       const array& b_indptr, const array& b_indices,
                                       int64_t n_cols_b, StreamOrDevice s = {});

// The canonical pattern of convolve2d's output for CSR images x (rows of c_in channel-major
// h x w images): every output pixel some stored pixel reaches through a kernel of shape
// (c_out, c_in, kh, kw) (zeros included), {indptr[m + 1], indices} in x's index dtype.
// sizes are [h, w, h_out, w_out, top, left, kh, kw, c_in, c_out]. Validates x on the host.
std::vector<array> csr_convolve2d_symbolic(const array& x_indptr, const array& x_indices,
                                           const std::vector<int64_t>& sizes,
                                           StreamOrDevice s = {});

// COO -> CSR: the pattern of the entries (rows[e], cols[e]) sorted by (row, col):
// {indptr[m + 1], indices[nnz_out], slot[nnz]} where entry e lands at slot[e]. With
// sum_duplicates, equal (row, col) share one slot (canonical form); without, the sort is
// stable and slot is a permutation. Index dtype: int32 when rows and cols are, else int64.
// On a GPU stream it runs there (two csr_transpose sorts and MLX ops), reading on the host
// only the range check and, with sum_duplicates, nnz_out; its results are then lazy.
std::vector<array> coo_tocsr(const array& rows, const array& cols, int64_t m, int64_t n,
                             bool sum_duplicates, StreamOrDevice s = {});

// ---- Block-sparse flash attention (docs/developer/flash_attention.md has the contract).
// softmax(scale q k^T + bias) v over the blocks of an attention layout given as int32 block
// CSR (row_ptr[B * Mb + 1], col[n_blocks]) and its transpose (t_ptr[B * Nb + 1],
// t_row[n_blocks], t_block[n_blocks]); q[B, Lq, d], k[B, Lk, d], v[B, Lk, dv] of one dtype
// (float32, float16, bfloat16), bias of that dtype and mask (uint8, 1 = masked) as
// [n_blocks, bs, bs]; bs in {16, 32, 64}, d and dv multiples of 8 up to 256.
// Returns {o[B, Lq, dv], lse[B, Lq] (float32, natural log; -inf and o = 0 for a row with no
// unmasked column)}. Differentiable in q, k, v and bias to any order (vjp, jvp), and vmap-able
// over q, k, v, bias and mask (not the layout). The layout's values are checked
// when they are evaluated (not traced); the kernels stay in bounds on any values.
std::vector<array> flash_attention(const array& q, const array& k, const array& v,
                                   const array& row_ptr, const array& col, const array& t_ptr,
                                   const array& t_row, const array& t_block,
                                   const std::optional<array>& bias,
                                   const std::optional<array>& mask, int block_size, float scale,
                                   StreamOrDevice s = {});

// ---- Block CSR products (issue 13). A block CSR matrix A of (R, C) blocks: indptr[Mb + 1]
// over block rows, indices[nnzb] (block columns), data[..., nnzb, R, C]; the CSR rule above
// applies to its blocks (a skipped block adds nothing; its sddmm block is 0). Dense operands'
// row counts fix Nb = N / C. CPU kernels only so far: mlx_sparse uses these on CPU streams.

// Y[..., Mb * R, k] = A @ X[..., Nb * C, k]. `transposed`, when given, is
// csr_transpose(indptr, indices, Nb) (a cache the caller keeps), handed to the gradient.
array bsr_spmm(const array& indptr, const array& indices, const array& data, const array& x,
               const std::vector<array>& transposed = {}, StreamOrDevice s = {});

// out[..., e, r, c] = <G[..., I * R + r, :], B[..., J * C + c, :]> for each stored block e at
// block (I, J): (G @ B^T) sampled at the blocks, G[..., Mb * R, k], B[..., Nb * C, k].
// `transposed`, as for bsr_spmm, is handed to the gradients.
array bsr_sddmm(const array& indptr, const array& indices, const array& g, const array& b,
                int64_t block_rows, int64_t block_cols, const std::vector<array>& transposed = {},
                StreamOrDevice s = {});

// ---- CPU kernel settings.
// The CPU kernels' pool: MLX_SPARSE_NUM_THREADS threads, else one per hardware thread.
// set_num_threads throws std::invalid_argument unless 1 <= n <= max(256, 8 x hardware threads).
int num_threads();
void set_num_threads(int n);
// Why MLX_SPARSE_NUM_THREADS (not an integer in that range) or MLX_SPARSE_SPIN_US (the
// workers' spin before they sleep, 0 to 1e6 microseconds, else 300) is ignored, if it is.
std::vector<std::string> pool_env_problems();
const char* kernel_isa();
// The GPU backend this build has kernels for ("metal", "cuda"), or nullopt.
std::optional<std::string> gpu_backend();
// On Metal, compiles every kernel family's library now (each is otherwise compiled on first
// use) and returns {family: error} for those that failed; empty elsewhere.
std::map<std::string, std::string> metal_compile_all();

} // namespace mlx_sparse
