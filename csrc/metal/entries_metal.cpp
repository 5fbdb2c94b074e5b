// eval_gpu of todense, sum_duplicates and rows on Metal (kernels in metal/entries.metal).
#include "metal/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace metal;

void CsrTodense::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t mn = m * n_cols_;
  const int64_t batch = mn == 0 ? 0 : static_cast<int64_t>(out.size()) / mn;
  if (batch == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  EntryArgs a{m, n_cols_, nnz, mn, batch_stride(in[2], nnz, batch), batch};
  l.kernel(kernel_name("csr_todense", "todense_scatter", out.dtype(), in[0].dtype()),
           {stride_blocks(nnz), static_cast<unsigned>(batch)}, {kBlock}, In{in[0]}, In{in[1]},
           In{in[2]}, Out{acc.array()}, a);
  acc.finish();
}

void CsrSumDuplicates::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const int64_t n_in = in[1].size();
  const int64_t batch = n_out_ == 0 ? 0 : static_cast<int64_t>(out.size()) / n_out_;
  if (batch == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  EntryArgs a{0, 0, n_in, n_out_, n_in, batch};
  l.kernel(kernel_name("csr_sum_duplicates", "sum_duplicates_scatter", out.dtype(),
                       in[1].dtype()),
           {stride_blocks(n_in), static_cast<unsigned>(batch)}, {kBlock}, In{in[1]}, In{in[0]},
           Out{acc.array()}, a);
  acc.finish();
}

void CsrRows::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  EntryArgs a{m, 0, nnz, nnz, 0, 1};
  l.kernel("rows_search_" + index_name(in[0].dtype()), {stride_blocks(nnz)}, {kBlock},
           In{in[0]}, Out{out}, a);
}

} // namespace mlx_sparse
