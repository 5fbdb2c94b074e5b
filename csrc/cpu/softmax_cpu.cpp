// eval_cpu of softmax.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrSoftmax::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  SoftmaxParams p;
  p.a = cpu::csr_view(in[0], in[1], n_cols_);
  p.data = in[2].data<void>();
  p.out = out.data<void>();
  p.batch = p.a.nnz == 0 ? 0 : static_cast<int64_t>(out.size()) / p.a.nnz;
  p.data_stride = p.a.nnz;
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::softmax, p);
}

} // namespace mlx_sparse
