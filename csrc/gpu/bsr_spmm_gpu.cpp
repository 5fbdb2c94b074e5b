// GPU evaluation of bsr_spmm (contract and shared code: gpu/core/bsr.h; kernels in
// csrc/cuda/kernels/bsr_spmm.cu and metal/bsr_spmm.metal).
#include "gpu/bsr_host.h"
#include "gpu/eval.h"

namespace mlx_sparse::gpu {

// inputs: indptr, indices, data, X (then A^T's structure, riding for the gradient)
void eval(Launch& l, const BsrSpmm&, const Inputs& in, array& out) {
  const auto &indptr = in[0], &indices = in[1], &data = in[2], &x = in[3];
  l.allocate(out);
  const int64_t mb = static_cast<int64_t>(indptr.size()) - 1, nnzb = indices.size();
  const int64_t R = data.shape(-2), C = data.shape(-1), k = out.shape(-1);
  const int64_t rows = mb * R, batch = rows * k == 0 ? 0 : out.size() / (rows * k);
  const int64_t nb = x.shape(-2) / C;
  const BsrArgs a{mb, nb, nnzb, R, C, k, batch_stride(data, nnzb * R * C, batch),
                  batch_stride(x, nb * C * k, batch)};
  launch_bsr(l, "bsr_spmm", indptr, indices, data, x, out, a,
             {static_cast<unsigned>(mb), static_cast<unsigned>(bsr_col_tiles(k)),
              static_cast<unsigned>(batch)},
             rows * k, batch);
}

} // namespace mlx_sparse::gpu
