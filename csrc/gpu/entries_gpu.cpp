// GPU evaluation of todense, sum_duplicates and rows (kernels in
// csrc/cuda/kernels/entries.cu, metal/entries.metal).
#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

void eval(Launch& l, const CsrTodense& p, const Inputs& in, array& out) {
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t mn = m * p.n_cols_;
  const int64_t batch = mn == 0 ? 0 : static_cast<int64_t>(out.size()) / mn;
  if (batch == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  EntryArgs a{m, p.n_cols_, nnz, mn, batch_stride(in[2], nnz, batch), batch};
  l.kernel(kernel_name("csr_todense", "todense_scatter", out.dtype(), in[0].dtype()),
           {stride_blocks(nnz), static_cast<unsigned>(batch)}, {kBlock}, In{in[0]}, In{in[1]},
           In{in[2]}, Out{acc.array()}, a);
  acc.finish();
}

void eval(Launch& l, const CsrSumDuplicates& p, const Inputs& in, array& out) {
  const int64_t n_in = in[1].size();
  const int64_t batch = p.n_out_ == 0 ? 0 : static_cast<int64_t>(out.size()) / p.n_out_;
  if (batch == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  EntryArgs a{0, 0, n_in, p.n_out_, n_in, batch};
  l.kernel(kernel_name("csr_sum_duplicates", "sum_duplicates_scatter", out.dtype(),
                       in[1].dtype()),
           {stride_blocks(n_in), static_cast<unsigned>(batch)}, {kBlock}, In{in[1]}, In{in[0]},
           Out{acc.array()}, a);
  acc.finish();
}

void eval(Launch& l, const CsrRows&, const Inputs& in, array& out) {
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  EntryArgs a{m, 0, nnz, nnz, 0, 1};
  l.kernel("rows_search_" + index_name(in[0].dtype()), {stride_blocks(nnz)}, {kBlock},
           In{in[0]}, Out{out}, a);
}

} // namespace mlx_sparse::gpu
