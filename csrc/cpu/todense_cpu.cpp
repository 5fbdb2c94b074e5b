// eval_cpu of todense and rows.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrTodense::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  TodenseParams p;
  p.a = cpu::csr_view(in[0], in[1], n_cols_);
  p.data = in[2].data<void>();
  p.out = out.data<void>();
  const int64_t mn = p.a.m * p.a.n;
  p.batch = mn == 0 ? 0 : static_cast<int64_t>(out.size()) / mn;
  p.data_stride = cpu::batch_stride(in[2], p.a.nnz, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::todense, p);
}

void CsrRows::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  RowsParams p;
  p.a = cpu::csr_view(in[0], in[1], 0);
  p.rows = out.data<void>();
  cpu::launch(stream(), &cpu::rows, p);
}

} // namespace mlx_sparse
