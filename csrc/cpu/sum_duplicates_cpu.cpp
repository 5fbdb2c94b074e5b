// eval_cpu of sum_duplicates.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrSumDuplicates::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  SumDuplicatesParams p;
  p.data = in[0].data<void>();
  p.slot = in[1].data<void>();
  p.out = out.data<void>();
  p.n_in = static_cast<int64_t>(in[1].size());
  p.n_out = n_out_;
  p.batch = n_out_ == 0 ? 0 : static_cast<int64_t>(out.size()) / n_out_;
  p.vtype = cpu::value_type(out.dtype());
  p.itype = cpu::index_type(in[1].dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::sum_duplicates, p);
}

} // namespace mlx_sparse
