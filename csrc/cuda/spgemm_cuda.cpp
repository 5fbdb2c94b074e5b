// eval_gpu of spgemm (numeric phase) on CUDA (kernels in kernels/spgemm.cu).
#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace cuda;

void CsrSpgemm::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1;
  const int64_t b_rows = static_cast<int64_t>(in[3].size()) - 1;
  gpu::SpgemmArgs a{m, static_cast<int64_t>(in[1].size()), b_rows,
                    static_cast<int64_t>(in[4].size()), static_cast<int64_t>(in[7].size()), 0};
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  l.kernel(kernel_name("csr_spgemm", "spgemm_row_warp", out.dtype(), in[0].dtype()),
           {blocks_for(m * 32)}, {kBlock}, in, {acc.array()}, Launch::ptr(in[0]),
           Launch::ptr(in[1]), Launch::ptr(in[2]), Launch::ptr(in[3]), Launch::ptr(in[4]),
           Launch::ptr(in[5]), Launch::ptr(in[6]), Launch::ptr(in[7]), acc.ptr(), a);
  acc.finish();
}

} // namespace mlx_sparse
