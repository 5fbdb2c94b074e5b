// todense and rows: the dense matrix of a CSR array, and the row of each stored entry.
#include <sstream>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;


array csr_todense(const array& indptr, const array& indices, const array& data, int64_t n_cols,
                  StreamOrDevice sd) {
  const char* op = "csr_todense";
  auto s = mx::to_stream(sd);
  int64_t m = check_structure(op, indptr, indices);
  check_values(op, data, indices);
  if (n_cols < 0) {
    throw std::invalid_argument("[csr_todense] n_cols must be non-negative.");
  }
  auto dtype = value_dtype(op, {data}, s);
  mx::Shape out(data.shape().begin(), data.shape().end() - 1);
  out.push_back(dim(op, m, "rows"));
  out.push_back(dim(op, n_cols, "columns"));
  return array(out, dtype, std::make_shared<CsrTodense>(s, n_cols),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(data, dtype, s)});
}

array csr_rows(const array& indptr, const array& indices, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  check_structure("csr_rows", indptr, indices);
  return array({static_cast<int>(indices.size())}, indptr.dtype(), std::make_shared<CsrRows>(s),
               {prepare_indptr(indptr, s), prepare_index(indices, s)});
}

// d/d data[e] of todense = cot[..., row(e), col(e)]: a gather at the flat positions.
std::vector<array> CsrTodense::vjp(const std::vector<array>& primals,
                                   const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  auto s = stream();
  const auto &indptr = primals[0], &indices = primals[1];
  const auto& cot = cotangents[0];
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("csr_todense");
    }
    array rows = mx::astype(csr_rows(indptr, indices, s), mx::int64, s);
    array cols = mx::astype(indices, mx::int64, s);
    array flat = mx::add(mx::multiply(rows, array(n_cols_, mx::int64), s), cols, s);
    // entries the rule skips (no row, column outside [0, n)) get no gradient
    std::optional<array> live;
    if (flat.is_tracer()) {
      live = mx::logical_and(mx::greater_equal(rows, array(0, mx::int64), s),
                             mx::logical_and(mx::greater_equal(cols, array(0, mx::int64), s),
                                             mx::less(cols, array(n_cols_, mx::int64), s), s),
                             s);
    }
    mx::Shape fs(cot.shape().begin(), cot.shape().end() - 2);
    fs.push_back(-1);
    grads.push_back(take_entries(mx::reshape(cot, fs, s), flat, live, -1, s));
  }
  return grads;
}

std::vector<array> CsrTodense::jvp(const std::vector<array>& primals,
                                   const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("csr_todense");
    }
  }
  return {csr_todense(primals[0], primals[1], tangents[0], n_cols_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> CsrTodense::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  auto in = vmap_align("csr_todense", inputs, axes, {1, 1, 1}, 2, stream());
  return {{csr_todense(in[0], in[1], in[2], n_cols_, stream())}, {0}};
}

std::vector<Shape> CsrTodense::output_shapes(const std::vector<array>& inputs) {
  Shape out(inputs[2].shape().begin(), inputs[2].shape().end() - 1);
  out.push_back(static_cast<int>(inputs[0].size()) - 1);
  out.push_back(static_cast<int>(n_cols_));
  return {out};
}

bool CsrTodense::is_equivalent(const Primitive& other) const {
  return n_cols_ == static_cast<const CsrTodense&>(other).n_cols_;
}

std::vector<Shape> CsrRows::output_shapes(const std::vector<array>& inputs) {
  return {{static_cast<int>(inputs[1].size())}};
}

} // namespace mlx_sparse
