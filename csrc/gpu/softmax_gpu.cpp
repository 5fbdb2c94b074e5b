// GPU evaluation of softmax (kernels in csrc/cuda/kernels/softmax.cu, metal/softmax.metal).
#include <algorithm>

#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

void eval(Launch& l, const CsrSoftmax& p, const Inputs& in, array& out) {
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t batch = nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / nnz;
  if (batch == 0) {
    return;
  }
  EntryArgs a{m, p.n_cols_, nnz, nnz, nnz, batch};
  // a warp per row, one at least: the first and last also zero the entries outside the rows
  l.kernel(kernel_name("csr_softmax", "softmax_row_warp", out.dtype(), in[0].dtype()),
           {blocks_for(std::max<int64_t>(m, 1) * 32), static_cast<unsigned>(batch)}, {kBlock},
           In{in[0]}, In{in[1]}, In{in[2]}, Out{out}, a);
}

} // namespace mlx_sparse::gpu
