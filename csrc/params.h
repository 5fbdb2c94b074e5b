// Parameter structs of the CSR kernels: plain data, no MLX types, so that the CPU kernels
// (and later the GPU kernels) share one description of every op's arrays.
#pragma once

#include <cstdint>

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

// What a kernel reports: the first row whose indptr or column indices break the CSR rules
// (such rows are skipped, never read out of bounds). row < 0 means the structure was valid.
struct KernelStatus {
  int64_t row = -1;
  int64_t value = 0; // the offending column index, or the offending indptr entry
  bool bad_indptr = false;
  bool ok() const {
    return row < 0;
  }
};

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
};

// transpose (structure only): indptr_t[n + 1], indices_t[nnz] and perm[nnz] such that
// entry q of A^T is entry perm[q] of A. Stable: rows of A^T list A's rows in order.
struct TransposeParams {
  CsrView a;
  void* indptr_t;
  void* indices_t;
  void* perm;
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

// rows: rows[e] = the row of stored entry e (the COO row array).
struct RowsParams {
  CsrView a;
  void* rows;
};

// sum_duplicates (values): out[b, slot[e]] += data[b, e]; slot[n_in] of `itype`, out[batch, n_out].
struct SumDuplicatesParams {
  const void* data;
  const void* slot;
  void* out;
  int64_t n_in;
  int64_t n_out;
  int64_t batch;
  ValueType vtype;
  IndexType itype;
};

// spgemm (numeric): c_data[q] = sum_j A[i, j] * B[j, c_col(q)] for each entry q of the given
// output pattern C (row i). Products that fall outside C's pattern are dropped, so the same
// kernel computes masked products (used by the gradients). C's rows must hold unique columns.
struct SpgemmParams {
  CsrView a;
  const void* a_data;
  CsrView b;
  const void* b_data;
  CsrView c;
  void* c_data;
  ValueType vtype;
};

} // namespace mlx_sparse
