// eval_gpu of spmv and spmm on Metal (kernels in metal/spmm.metal); the choices follow
// csrc/cuda/spmm_cuda.cpp: scatter, gather over A^T's structure, or A's own rows.
#include "metal/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

using namespace metal;

void eval_product(mx::Stream s, const char* op, bool vector, int64_t n_cols, bool transpose,
                  RowLengths lengths, const std::vector<array>& in, array& out) {
  Launch l(s);
  const auto &data = in[2], &b = in[3];
  const auto itype = in[0].dtype();
  auto [a, batch] = product_shape(vector, n_cols, transpose, in, out);
  const int64_t m = a.m;
  const unsigned nb = static_cast<unsigned>(batch);
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  if (transpose && in.size() < 7) { // atomic scatter into out[col(e)]
    Accumulator acc(l, out);
    l.kernel(kernel_name(op, "spmm_scatter", out.dtype(), itype), {blocks_for(m * 32), nb},
             {kBlock}, In{in[0]}, In{in[1]}, In{data}, In{b}, Out{acc.array()}, a);
    acc.finish();
    return;
  }
  // gather over A^T's structure (values through perm), or over A's rows; without perm the
  // indices buffer fills its slot (Metal binds no null buffers) and use_perm is 0
  const array& indptr = transpose ? in[4] : in[0];
  const array& indices = transpose ? in[5] : in[1];
  const array& perm = transpose ? in[6] : in[1];
  const int use_perm = transpose ? 1 : 0;
  if (transpose) {
    a.m = n_cols;
    a.n = m;
  }
  const ProductPlan plan = product_plan(a, transpose ? lengths.max_col : lengths.max_row, nb);
  const Dims grid{plan.grid[0], plan.grid[1], plan.grid[2]};
  const std::string name = kernel_name(op, plan.variant, out.dtype(), itype);
  if (plan.by_row) { // one kernel writes each output element once
    l.allocate(out);
    l.kernel(name, grid, {kBlock}, In{indptr}, In{indices}, In{data}, In{perm}, In{b}, Out{out},
             a, use_perm);
    return;
  }
  Accumulator acc(l, out);
  if (a.nnz == 0) { // zeros; CUDA runs empty kernels here, Metal would bind an empty table
    acc.finish();
    return;
  }
  // nnz_split: the row each chunk of entries starts in (see chunk_rows in metal/spmm.metal)
  const int64_t chunks = (a.nnz + plan.chunk - 1) / plan.chunk;
  array table = l.temporary(chunks, itype);
  l.kernel("chunk_rows_" + index_name(itype), {stride_blocks(chunks)}, {kBlock}, In{indptr},
           Out{table}, a.m, a.nnz, plan.chunk);
  l.kernel(name, grid, {kBlock}, In{indptr}, In{indices}, In{data}, In{perm}, In{b},
           Out{acc.array()}, In{table}, a, use_perm);
  acc.finish();
}

} // namespace

void CsrSpmv::eval_gpu(const std::vector<array>& inputs, array& out) {
  eval_product(stream(), "csr_spmv", true, n_cols_, transpose_, lengths_, inputs, out);
}

void CsrSpmm::eval_gpu(const std::vector<array>& inputs, array& out) {
  eval_product(stream(), "csr_spmm", false, n_cols_, transpose_, lengths_, inputs, out);
}

} // namespace mlx_sparse
