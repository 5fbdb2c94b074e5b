// eval_cpu of spmv and spmm.
#include <algorithm>

#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {
void eval_product(mlx::core::Stream s, bool vector, int64_t n_cols, bool transpose,
                  const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  const auto &indptr = in[0], &indices = in[1], &data = in[2], &b = in[3];
  ProductParams p;
  p.a = cpu::csr_view(indptr, indices, n_cols);
  p.data = data.data<void>();
  p.b = b.data<void>();
  p.out = out.data<void>();
  p.k = vector ? 1 : b.shape(-1);
  const int64_t rows_b = transpose ? p.a.m : n_cols;
  const int64_t rows_out = transpose ? n_cols : p.a.m;
  p.batch = rows_out * p.k == 0 ? 0 : static_cast<int64_t>(out.size()) / (rows_out * p.k);
  p.data_stride = cpu::batch_stride(data, p.a.nnz, p.batch);
  p.b_stride = cpu::batch_stride(b, rows_b * p.k, p.batch);
  p.vtype = cpu::value_type(out.dtype());
  p.transpose = transpose;
  if (p.batch == 0) {
    return;
  }
  if (transpose && in.size() == 7) {
    // A^T @ B gathered over A^T's structure (indptr_t, indices_t, perm); the kernel reads
    // A's values through perm.
    p.a = cpu::csr_view(in[4], in[5], p.a.m);
    p.perm = in[6].data<void>();
    p.transpose = false;
  }
  cpu::launch(s, vector ? &cpu::spmv : &cpu::spmm, p);
}
} // namespace

void CsrSpmv::eval_cpu(const std::vector<array>& inputs, array& out) {
  if (emu::emulated(*this, inputs, out)) {
    return;
  }
  eval_product(stream(), true, n_cols_, transpose_, inputs, out);
}

void CsrSpmm::eval_cpu(const std::vector<array>& inputs, array& out) {
  if (emu::emulated(*this, inputs, out)) {
    return;
  }
  eval_product(stream(), false, n_cols_, transpose_, inputs, out);
}

} // namespace mlx_sparse
