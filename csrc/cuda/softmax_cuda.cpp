// eval_gpu of softmax on CUDA (kernels in kernels/softmax.cu).
#include <algorithm>

#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace cuda;

void CsrSoftmax::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1, nnz = in[1].size();
  const int64_t batch = nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / nnz;
  if (batch == 0) {
    return;
  }
  EntryArgs a{m, n_cols_, nnz, nnz, nnz, batch};
  // a warp per row, one at least: the first and last also zero the entries outside the rows
  l.kernel(kernel_name("csr_softmax", "softmax_row_warp", out.dtype(), in[0].dtype()),
           {blocks_for(std::max<int64_t>(m, 1) * 32), static_cast<unsigned>(batch)}, {kBlock},
           {in[0], in[1], in[2]}, {out}, Launch::ptr(in[0]), Launch::ptr(in[1]),
           Launch::ptr(in[2]), Launch::ptr(out), a);
}

} // namespace mlx_sparse
