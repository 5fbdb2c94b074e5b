// eval_cpu of transpose.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrTranspose::eval_cpu(const std::vector<array>& in, std::vector<array>& outs) {
  if (emu::emulated(*this, in, outs)) {
    return;
  }
  for (auto& o : outs) {
    cpu::allocate(o);
  }
  TransposeParams p;
  p.a = cpu::csr_view(in[0], in[1], n_cols_);
  p.indptr_t = outs[0].data<void>();
  p.indices_t = outs[1].data<void>();
  p.perm = outs[2].data<void>();
  cpu::launch(stream(), &cpu::transpose, p);
}

} // namespace mlx_sparse
