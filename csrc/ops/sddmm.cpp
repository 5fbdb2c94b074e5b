// sddmm: dense-dense products sampled at a sparse pattern, and its transforms.
#include <sstream>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array csr_sddmm(const array& indptr, const array& indices, const array& g, const array& b,
                StreamOrDevice sd) {
  const char* op = "csr_sddmm";
  auto s = mx::to_stream(sd);
  int64_t m = check_structure(op, indptr, indices);
  if (g.ndim() < 2 || b.ndim() < 2 || g.shape(-2) != m || g.shape(-1) != b.shape(-1)) {
    Message msg;
    msg << "[" << op << "] dimension mismatch with signature (...,m=" << m
        << ",k),(...,n,k)->(...,nnz): got G of shape " << shape_str(g.shape())
        << " and B of shape " << shape_str(b.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  auto dtype = value_dtype(op, {g, b}, s);
  auto batch = batch_shape(op, {g, b}, {2, 2});
  auto gg = fit_batch(cast(g, dtype, s), 2, batch, s);
  auto bb = fit_batch(cast(b, dtype, s), 2, batch, s);
  mx::Shape out = batch;
  out.push_back(indices.size());
  return array(out, dtype, std::make_shared<CsrSddmm>(s),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(gg, dtype, s),
                prepare(bb, dtype, s)});
}

std::vector<array> CsrSddmm::vjp(const std::vector<array>& primals,
                                 const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  const auto &indptr = primals[0], &indices = primals[1], &g = primals[2], &b = primals[3];
  const auto& cot = cotangents[0];
  const int64_t n = b.shape(-2);
  auto s = stream();
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("csr_sddmm");
    }
    // d/dG = A(cot) @ B and d/dB = A(cot)^T @ G
    array grad = arg == 2 ? csr_spmm(indptr, indices, cot, b, n, false, {}, {}, s)
                          : csr_spmm(indptr, indices, cot, g, n, true, {}, {}, s);
    grads.push_back(sum_to_shape(grad, primals[arg].shape(), s));
  }
  return grads;
}

std::vector<array> CsrSddmm::jvp(const std::vector<array>& primals,
                                 const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] < 2) {
      throw_index_grad("csr_sddmm");
    }
    array term = argnums[i] == 2 ? csr_sddmm(primals[0], primals[1], tangents[i], primals[3], stream())
                                 : csr_sddmm(primals[0], primals[1], primals[2], tangents[i], stream());
    out = out ? mx::add(*out, term, stream()) : term;
  }
  return {*out};
}

std::pair<std::vector<array>, std::vector<int>> CsrSddmm::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  auto in = vmap_align("csr_sddmm", inputs, axes, {1, 1, 2, 2}, 2, stream());
  return {{csr_sddmm(in[0], in[1], in[2], in[3], stream())}, {0}};
}

std::vector<Shape> CsrSddmm::output_shapes(const std::vector<array>& inputs) {
  auto batch = batch_shape("csr_sddmm", {inputs[2], inputs[3]}, {2, 2});
  batch.push_back(inputs[1].size());
  return {batch};
}

} // namespace mlx_sparse
