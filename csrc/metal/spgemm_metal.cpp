// eval_gpu of spgemm (numeric phase) on Metal (kernels in metal/spgemm.metal).
#include "metal/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace metal;

void CsrSpgemm::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1;
  const int64_t b_rows = static_cast<int64_t>(in[3].size()) - 1;
  SpgemmArgs a{m, static_cast<int64_t>(in[1].size()), b_rows,
               static_cast<int64_t>(in[4].size()), static_cast<int64_t>(in[7].size()), 0};
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  l.kernel(kernel_name("csr_spgemm", "spgemm_row_warp", out.dtype(), in[0].dtype()),
           {blocks_for(m * 32)}, {kBlock}, In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]},
           In{in[4]}, In{in[5]}, In{in[6]}, In{in[7]}, Out{acc.array()}, a);
  acc.finish();
}

} // namespace mlx_sparse
