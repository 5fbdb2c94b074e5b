// eval_cpu of spgemm (numeric phase).
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrSpgemm::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  SpgemmParams p;
  const int64_t l = static_cast<int64_t>(in[3].size()) - 1;
  p.a = cpu::csr_view(in[0], in[1], l);
  p.a_data = in[2].data<void>();
  p.b = cpu::csr_view(in[3], in[4], n_cols_b_);
  p.b_data = in[5].data<void>();
  p.c = cpu::csr_view(in[6], in[7], n_cols_b_);
  p.c_data = out.data<void>();
  p.vtype = cpu::value_type(out.dtype());
  cpu::launch(stream(), &cpu::spgemm, p);
}

} // namespace mlx_sparse
