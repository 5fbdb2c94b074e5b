// GPU evaluation of bsr_sddmm (contract and shared code: gpu/core/bsr.h; kernels in
// csrc/cuda/kernels/bsr_sddmm.cu and metal/bsr_sddmm.metal).
#include "gpu/bsr_host.h"
#include "gpu/eval.h"

namespace mlx_sparse::gpu {

// inputs: indptr, indices, G, B
void eval(Launch& l, const BsrSddmm& p, const Inputs& in, array& out) {
  const auto &indptr = in[0], &indices = in[1], &g = in[2], &b = in[3];
  l.allocate(out);
  const int64_t mb = static_cast<int64_t>(indptr.size()) - 1, nnzb = indices.size();
  const int64_t R = p.block_rows_, C = p.block_cols_, k = g.shape(-1);
  const int64_t size = nnzb * R * C, batch = size == 0 ? 0 : out.size() / size;
  const int64_t nb = b.shape(-2) / C;
  const BsrArgs a{mb, nb, nnzb, R, C, k, batch_stride(g, mb * R * k, batch),
                  batch_stride(b, nb * C * k, batch)};
  launch_bsr(l, "bsr_sddmm", indptr, indices, g, b, out, a,
             {static_cast<unsigned>(nnzb), 1, static_cast<unsigned>(batch)}, size, batch);
}

} // namespace mlx_sparse::gpu
