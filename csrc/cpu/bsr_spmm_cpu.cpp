// eval_cpu of bsr_spmm.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

void BsrSpmm::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  const auto &indptr = in[0], &indices = in[1], &data = in[2], &x = in[3];
  BsrSpmmParams p;
  p.R = data.shape(-2);
  p.C = data.shape(-1);
  p.a = cpu::csr_view(indptr, indices, x.shape(-2) / p.C);
  p.data = data.data<void>();
  p.x = x.data<void>();
  p.out = out.data<void>();
  p.k = x.shape(-1);
  const int64_t rows_out = p.a.m * p.R * p.k;
  p.batch = rows_out == 0 ? 0 : static_cast<int64_t>(out.size()) / rows_out;
  p.data_stride = cpu::batch_stride(data, p.a.nnz * p.R * p.C, p.batch);
  p.x_stride = cpu::batch_stride(x, x.shape(-2) * p.k, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  if (p.batch == 0) {
    return;
  }
  cpu::launch(stream(), &cpu::bsr_spmm, p);
}

} // namespace mlx_sparse
