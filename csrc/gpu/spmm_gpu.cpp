// GPU evaluation of spmv and spmm (kernels in csrc/cuda/kernels/spmm.cu, metal/spmm.metal):
// a scatter over A's entries, a gather over A^T's structure, or A's own rows.
#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

namespace {

void eval_product(Launch& l, const char* op, bool vector, int64_t n_cols, bool transpose,
                  RowLengths lengths, const Inputs& in, array& out) {
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
  if (a.nnz == 0) { // zeros (an empty chunk table would be bound otherwise)
    acc.finish();
    return;
  }
  // nnz_split: the row each chunk of entries starts in (chunk_rows)
  const int64_t chunks = (a.nnz + plan.chunk - 1) / plan.chunk;
  array table = l.temporary(chunks, itype);
  l.kernel("chunk_rows_" + index_name(itype), {stride_blocks(chunks)}, {kBlock}, In{indptr},
           Out{table}, a.m, a.nnz, plan.chunk);
  l.kernel(name, grid, {kBlock}, In{indptr}, In{indices}, In{data}, In{perm}, In{b},
           Out{acc.array()}, In{table}, a, use_perm);
  acc.finish();
}

} // namespace

void eval(Launch& l, const CsrSpmv& p, const Inputs& in, array& out) {
  eval_product(l, "csr_spmv", true, p.n_cols_, p.transpose_, p.lengths_, in, out);
}

void eval(Launch& l, const CsrSpmm& p, const Inputs& in, array& out) {
  eval_product(l, "csr_spmm", false, p.n_cols_, p.transpose_, p.lengths_, in, out);
}

} // namespace mlx_sparse::gpu
