// eval_cpu of sddmm.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrSddmm::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  const auto &indptr = in[0], &indices = in[1], &g = in[2], &b = in[3];
  SddmmParams p;
  p.a = cpu::csr_view(indptr, indices, b.shape(-2));
  p.g = g.data<void>();
  p.b = b.data<void>();
  p.out = out.data<void>();
  p.k = g.shape(-1);
  p.batch = p.a.nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / p.a.nnz;
  p.g_stride = cpu::batch_stride(g, p.a.m * p.k, p.batch);
  p.b_stride = cpu::batch_stride(b, p.a.n * p.k, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::sddmm, p);
}

} // namespace mlx_sparse
