// Parameter structs of the CSR kernels: plain data, no MLX types, so that the CPU kernels
// (and later the GPU kernels) share one description of every op's arrays.
#pragma once

#include <cstdint>

#include "gpu/core/params.h"

namespace mlx_sparse {

enum class ValueType : int32_t { float32 = 0, float16 = 1, bfloat16 = 2, float64 = 3 };
enum class IndexType : int32_t { int32 = 0, int64 = 1 };

// A CSR matrix's structure: indptr[m + 1], indices[nnz], both of `itype`.
struct CsrView {
  const void* indptr;
  const void* indices;
  int64_t m;
  int64_t n;
  int64_t nnz;
  IndexType itype;
};

// The kernels follow the CSR rule of ops.h (clamped row ranges, out-of-range columns skipped)
// and never fail: they return nothing, allocate nothing and throw nothing on MLX's stream
// thread. Scratch memory they need comes in `scratch`, sized by cpu/scratch.h and allocated
// in eval_cpu; `parts` is the number of row blocks it was sized for.

// spmv / spmm: out[b] = A_b @ B[b]  (or A_b^T @ B[b] when transpose).
// data[batch? , nnz]; B[batch?, rows_b, k]; out[batch, rows_out, k] (k == 1 for spmv).
// A batch stride of 0 broadcasts that operand over the batch. With perm (gathering over
// A^T's structure), entry q's value is data[perm[q]].
struct ProductParams {
  CsrView a;
  const void* data;
  const void* perm = nullptr;
  const void* b;
  void* out;
  int64_t k;
  int64_t batch;
  int64_t data_stride;
  int64_t b_stride;
  ValueType vtype;
  bool transpose;
  void* scratch = nullptr; // perm: data in A^T's order; transpose: private accumulators
  int64_t parts = 1;       // transpose: private accumulators
};

// sddmm: out[b, e] = <G[b, row(e), :], B[b, col(e), :]> for every stored entry e.
// G[batch?, m, k], B[batch?, n, k], out[batch, nnz].
struct SddmmParams {
  CsrView a;
  const void* g;
  const void* b;
  void* out;
  int64_t k;
  int64_t batch;
  int64_t g_stride;
  int64_t b_stride;
  ValueType vtype;
};

// todense: out[b] = dense(A_b) with duplicates summed. data[batch?, nnz], out[batch, m, n].
struct TodenseParams {
  CsrView a;
  const void* data;
  void* out;
  int64_t batch;
  int64_t data_stride;
  ValueType vtype;
  void* scratch = nullptr; // 16-bit values: a float row per block, to sum duplicates
  int64_t parts = 1;       // blocks of the batch's rows
};

// transpose (structure only): indptr_t[n + 1], indices_t[nnz] and perm[nnz] such that
// entry q of A^T is entry perm[q] of A. Stable: rows of A^T list A's rows in order.
// Entries outside every row or with a column outside [0, n) are not in A^T: they follow its
// last row in perm, in order (perm stays a permutation), with indices_t 0.
struct TransposeParams {
  CsrView a;
  void* indptr_t;
  void* indices_t;
  void* perm;
  void* scratch = nullptr; // parts x (n + 1) int64 counters
  int64_t parts = 1;
};

// softmax: out[b, e] = softmax of row(e)'s stored values at e. data[batch?, nnz], out[batch, nnz].
struct SoftmaxParams {
  CsrView a;
  const void* data;
  void* out;
  int64_t batch;
  int64_t data_stride;
  ValueType vtype;
};

// contiguous_copy: out (row-major, `shape`) = the array at `in` read through `strides` (in
// elements, any sign, 0 for broadcast axes), after size-1 axes are dropped and adjacent axes
// merged (at most kCopyDims remain). Elements of 1, 2, 4 or 8 bytes.
constexpr int kCopyDims = 8;
struct CopyParams {
  const void* in;
  void* out;
  int ndim;
  int elem_bytes;
  int64_t shape[kCopyDims];
  int64_t strides[kCopyDims];
};

// row_gather (values): out[b, new_indptr[r] + j] = data[b, indptr[rows[r]] + j], the rows of A
// in the order `rows` lists them. rows[k] and new_indptr[k + 1] of A's `itype`; data[batch?, nnz],
// out[batch, nnz_out]. A row outside [0, m) (or an output row longer than its source) gives 0s.
struct RowGatherParams {
  CsrView a; // indptr, m, nnz (indices unused)
  const void* rows;
  const void* new_indptr;
  const void* data;
  void* out;
  int64_t k;
  int64_t nnz_out;
  int64_t batch;
  int64_t data_stride;
  ValueType vtype;
};

// cg_step: one conjugate-gradient iteration on A (n x n), fused into three passes over n:
// Ap and p.Ap, then x += alpha p, r -= alpha Ap and r.r, then p = r + beta p. The state is
// one array, [x | r | p | Ap | rz, go, it] (4n + 3 values: rz = r.r, go 1 or 0, it the steps
// taken), so that MLX can hand its buffer from step to step (out may be state: in place).
// Where go is 0 the state passes unchanged; go turns 0 once r.r <= tol2.
struct CgStepParams {
  CsrView a;
  const void* data;
  const void* state;
  const void* tol2; // 0-d
  void* out;
  ValueType vtype;
};

// rows: rows[e] = the row of stored entry e (the COO row array), -1 for an entry in no row.
struct RowsParams {
  CsrView a;
  void* rows;
};

// sum_duplicates (values): out[b, slot[e]] += data[b, e]; slot[n_in] of `itype`, out[batch, n_out].
// A slot outside [0, n_out) is skipped.
struct SumDuplicatesParams {
  const void* data;
  const void* slot;
  void* out;
  int64_t n_in;
  int64_t n_out;
  int64_t batch;
  ValueType vtype;
  IndexType itype;
  void* scratch = nullptr; // 16-bit values: n_out float accumulators
};

// spgemm (numeric): c_data[q] = sum_j A[i, j] * B[j, c_col(q)] for each entry q of the given
// output pattern C (row i). Products that fall outside C's pattern are dropped, so the same
// kernel computes masked products (used by the gradients). C's rows must hold unique columns
// (sorted, for the positional accumulator); C's entries outside its rows are 0.
struct SpgemmParams {
  CsrView a;
  const void* a_data;
  CsrView b;
  const void* b_data;
  CsrView c;
  void* c_data;
  ValueType vtype;
  void* scratch = nullptr; // dense: parts x n (accumulator, mask); else 16-bit: nnz_c floats
  int64_t parts = 1;       // dense: blocks of rows; 0: positional (C's columns searched)
};

// convolve2d (numeric) of CSR images: x's rows hold c_in channel-major h x w planes, c's rows
// c_out planes of h_out x w_out; k[c_out][c_in][kh][kw] (vtype). out(o, r, s) =
// sum_{i,a,b} k[o][i][a][b] * x(i, r + top - a, s + left - b) (true convolution, as
// scipy.signal.convolve2d) at c's pattern, which must hold every output pixel x reaches
// (csr_convolve2d_symbolic's). Columns out of range are skipped; c's other entries get 0.
struct Conv2dGeometry {
  int64_t h, w, h_out, w_out, kh, kw, top, left, c_in, c_out;
};

struct Convolve2dParams {
  CsrView x;
  const void* x_data;
  const void* k;
  CsrView c;
  void* c_data;
  ValueType vtype;
  Conv2dGeometry g;
  void* scratch = nullptr; // the kernel (acc type), then parts x c_out*h_out*w_out accumulators
  int64_t parts = 1;
};

// flash_attention (docs/developer/flash_attention.md), forward and backward: sizes in `a`,
// q[B][lq][d], k[B][lk][d], v[B][lk][dv] of vtype; the layout's int32 block CSR row_ptr,
// col and its transpose t_ptr, t_row, t_block; bias[n_blocks][bs][bs] (vtype) and
// mask[n_blocks][bs][bs] (uint8, 1 = masked) or nullptr. Forward writes o[B][lq][dv] and
// lse[B][lq] (float32). Backward reads o, lse, d_o and d_lse (float32[B][lq]) and writes dq,
// dk, dv and dbias (when bias). Blocks whose row, column or storage index is out of range
// are skipped (a skipped block adds nothing and its dbias is 0).
struct AttentionParams {
  gpu::AttentionArgs a;
  const void* q;
  const void* k;
  const void* v;
  const int32_t* row_ptr;
  const int32_t* col;
  const int32_t* t_ptr;
  const int32_t* t_row;
  const int32_t* t_block;
  const void* bias = nullptr;
  const uint8_t* mask = nullptr;
  ValueType vtype;
  void* o;               // forward: out; backward: in
  float* lse;            // forward: out; backward: in
  const void* d_o = nullptr;
  const float* d_lse = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  void* dbias = nullptr;
  void* scratch = nullptr; // per part: float tiles (cpu/scratch.cpp); backward: delta first
  int64_t parts = 1;
};

// bsr_spmm: out[b] = A_b @ X[b] for a block CSR A (a.m = Mb block rows, a.n = Nb block
// columns, a.nnz = nnzb blocks) of R x C blocks. data[batch?][nnzb][R][C], X[batch?][Nb*C][k],
// out[batch][Mb*R][k]. Every output row is written (0 for an empty block row).
struct BsrSpmmParams {
  CsrView a;
  int64_t R;
  int64_t C;
  const void* data;
  const void* x;
  void* out;
  int64_t k;
  int64_t batch;
  int64_t data_stride;
  int64_t x_stride;
  ValueType vtype;
};

// bsr_sddmm: out[b][e][r][c] = <G[b][I*R + r], B[b][J*C + c]> for block e at (I, J).
// G[batch?][Mb*R][k], B[batch?][Nb*C][k], out[batch][nnzb][R][C]; blocks in no row or with a
// column outside [0, Nb) are 0.
struct BsrSddmmParams {
  CsrView a;
  int64_t R;
  int64_t C;
  const void* g;
  const void* b;
  void* out;
  int64_t k;
  int64_t batch;
  int64_t g_stride;
  int64_t b_stride;
  ValueType vtype;
};

} // namespace mlx_sparse
