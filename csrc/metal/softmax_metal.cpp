// eval_gpu of softmax on Metal (kernels in metal/softmax.metal), as csrc/cuda/softmax_cuda.cpp.
#include <algorithm>

#include "metal/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace metal;

void CsrSoftmax::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t batch = nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / nnz;
  if (batch == 0) {
    return;
  }
  EntryArgs a{m, n_cols_, nnz, nnz, nnz, batch};
  // a SIMD group per row, one at least: the first and last also zero the entries outside
  // the rows
  l.kernel(kernel_name("csr_softmax", "softmax_row_warp", out.dtype(), in[0].dtype()),
           {blocks_for(std::max<int64_t>(m, 1) * 32), static_cast<unsigned>(batch)}, {kBlock},
           In{in[0]}, In{in[1]}, In{in[2]}, Out{out}, a);
}

} // namespace mlx_sparse
