// eval_gpu of sddmm on CUDA (kernels in kernels/sddmm.cu).
#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace cuda;

void CsrSddmm::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const auto &indptr = in[0], &indices = in[1], &g = in[2], &b = in[3];
  l.allocate(out);
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1, nnz = indices.size();
  const int64_t n = b.shape(-2), k = g.shape(-1);
  const int64_t batch = nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / nnz;
  if (batch == 0) {
    return;
  }
  const int64_t lanes = sddmm_lanes(k);
  gpu::SddmmArgs a{m, n, nnz, k, batch_stride(g, m * k, batch), batch_stride(b, n * k, batch),
                   batch, lanes};
  l.kernel(kernel_name("csr_sddmm", "sddmm_entry_group", out.dtype(), indptr.dtype()),
           {blocks_for(nnz * lanes), static_cast<unsigned>(batch)}, {kBlock},
           {indptr, indices, g, b}, {out}, Launch::ptr(indptr), Launch::ptr(indices),
           Launch::ptr(g), Launch::ptr(b), Launch::ptr(out), a);
}

} // namespace mlx_sparse
