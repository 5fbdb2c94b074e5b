// eval_cpu of bsr_sddmm.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void BsrSddmm::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  const auto &indptr = in[0], &indices = in[1], &g = in[2], &b = in[3];
  BsrSddmmParams p;
  p.R = block_rows_;
  p.C = block_cols_;
  p.a = cpu::csr_view(indptr, indices, b.shape(-2) / p.C);
  p.g = g.data<void>();
  p.b = b.data<void>();
  p.out = out.data<void>();
  p.k = g.shape(-1);
  const int64_t per_batch = p.a.nnz * p.R * p.C;
  p.batch = per_batch == 0 ? 0 : static_cast<int64_t>(out.size()) / per_batch;
  p.g_stride = cpu::batch_stride(g, g.shape(-2) * p.k, p.batch);
  p.b_stride = cpu::batch_stride(b, b.shape(-2) * p.k, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::bsr_sddmm, p);
}

} // namespace mlx_sparse
