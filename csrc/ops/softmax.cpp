// softmax: the row-wise softmax of a CSR array's stored values (its pattern unchanged), and
// its transforms. Rows without entries stay empty; duplicates count as separate entries.
#include <stdexcept>

#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array csr_softmax(const array& indptr, const array& indices, const array& data, int64_t n_cols,
                  StreamOrDevice sd) {
  const char* op = "csr_softmax";
  auto s = mx::to_stream(sd);
  check_structure(op, indptr, indices);
  check_values(op, data, indices);
  if (n_cols < 0) {
    throw std::invalid_argument("[csr_softmax] n_cols must be non-negative.");
  }
  auto dtype = value_dtype(op, {data}, s);
  return array(data.shape(), dtype, std::make_shared<CsrSoftmax>(s, n_cols),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(data, dtype, s)});
}

namespace {
// y * (g - rowsum(g * y)) at every entry: the softmax's Jacobian applied to g. Row sums by
// spmv against ones, brought back to the entries by their rows; all differentiable ops.
array softmax_jacobian(const array& indptr, const array& indices, const array& y, const array& g,
                       int64_t n_cols, mx::Stream s) {
  array gy = mx::multiply(g, y, s);
  array ones = mx::ones({dim("csr_softmax", n_cols, "columns")}, y.dtype(), s);
  array sums = csr_spmv(indptr, indices, gy, ones, n_cols, false, {}, {}, s);
  array rows = csr_rows(indptr, indices, s);
  return mx::multiply(y, mx::subtract(g, take_entries(sums, rows, std::nullopt, -1, s), s), s);
}
} // namespace

std::vector<array> CsrSoftmax::vjp(const std::vector<array>& primals,
                                   const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums,
                                   const std::vector<array>& outputs) {
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("csr_softmax");
    }
    grads.push_back(softmax_jacobian(primals[0], primals[1], outputs[0], cotangents[0], n_cols_,
                                     stream()));
  }
  return grads;
}

std::vector<array> CsrSoftmax::jvp(const std::vector<array>& primals,
                                   const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("csr_softmax");
    }
  }
  array y = csr_softmax(primals[0], primals[1], primals[2], n_cols_, stream());
  return {softmax_jacobian(primals[0], primals[1], y, tangents[0], n_cols_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> CsrSoftmax::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  auto in = vmap_align("csr_softmax", inputs, axes, {1, 1, 1}, 2, stream());
  return {{csr_softmax(in[0], in[1], in[2], n_cols_, stream())}, {0}};
}

std::vector<Shape> CsrSoftmax::output_shapes(const std::vector<array>& inputs) {
  return {inputs[2].shape()};
}

bool CsrSoftmax::is_equivalent(const Primitive& other) const {
  return n_cols_ == static_cast<const CsrSoftmax&>(other).n_cols_;
}

} // namespace mlx_sparse
