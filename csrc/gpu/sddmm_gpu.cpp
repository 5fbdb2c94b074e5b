// GPU evaluation of sddmm (kernels in csrc/cuda/kernels/sddmm.cu, metal/sddmm.metal).
#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

void eval(Launch& l, const CsrSddmm&, const Inputs& in, array& out) {
  const auto &indptr = in[0], &indices = in[1], &g = in[2], &b = in[3];
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1, nnz = indices.size();
  const int64_t n = b.shape(-2), k = g.shape(-1);
  const int64_t batch = nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / nnz;
  if (batch == 0) {
    return;
  }
  const int64_t lanes = sddmm_lanes(k);
  SddmmArgs a{m, n, nnz, k, batch_stride(g, m * k, batch), batch_stride(b, n * k, batch),
              batch, lanes};
  l.kernel(kernel_name("csr_sddmm", "sddmm_entry_group", out.dtype(), indptr.dtype()),
           {blocks_for(nnz * lanes), static_cast<unsigned>(batch)}, {kBlock}, In{indptr},
           In{indices}, In{g}, In{b}, Out{out}, a);
}

} // namespace mlx_sparse::gpu
