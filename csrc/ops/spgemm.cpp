// spgemm: sparse @ sparse. The pattern comes from the host-side csr_spgemm_symbolic; the
// values are a lazy primitive, differentiable in both operands' values through masked
// products (the same primitive on other patterns).
#include <sstream>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array csr_spgemm(const array& a_indptr, const array& a_indices, const array& a_data,
                 const array& b_indptr, const array& b_indices, const array& b_data,
                 const array& c_indptr, const array& c_indices, int64_t n_cols_b,
                 StreamOrDevice sd) {
  const char* op = "csr_spgemm";
  auto s = mx::to_stream(sd);
  int64_t m = check_structure(op, a_indptr, a_indices);
  check_structure(op, b_indptr, b_indices);
  int64_t mc = check_structure(op, c_indptr, c_indices);
  if (a_indptr.dtype() != b_indptr.dtype() || a_indptr.dtype() != c_indptr.dtype()) {
    throw std::invalid_argument("[csr_spgemm] A, B and C must share one index dtype.");
  }
  if (mc != m) {
    Message msg;
    msg << "[" << op << "] the output pattern has " << mc << " rows but A has " << m << ".";
    throw std::invalid_argument(msg.str());
  }
  if (a_data.ndim() != 1 || a_data.size() != a_indices.size() || b_data.ndim() != 1 ||
      b_data.size() != b_indices.size()) {
    Message msg;
    msg << "[" << op << "] values must be 1-D with one entry per stored index: got "
        << shape_str(a_data.shape()) << " for " << a_indices.size() << " entries of A and "
        << shape_str(b_data.shape()) << " for " << b_indices.size() << " entries of B.";
    throw std::invalid_argument(msg.str());
  }
  auto dtype = value_dtype(op, {a_data, b_data}, s);
  return array({static_cast<int>(c_indices.size())}, dtype,
               std::make_shared<CsrSpgemm>(s, n_cols_b),
               {prepare_indptr(a_indptr, s), prepare_index(a_indices, s),
                prepare(a_data, dtype, s), prepare_indptr(b_indptr, s),
                prepare_index(b_indices, s), prepare(b_data, dtype, s),
                prepare_indptr(c_indptr, s), prepare_index(c_indices, s)});
}

// dA = mask_A(dC @ B^T) and dB = mask_B(A^T @ dC), both masked spgemm products.
std::vector<array> CsrSpgemm::vjp(const std::vector<array>& p, const std::vector<array>& cotangents,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  auto s = stream();
  const auto& dc = cotangents[0];
  const int64_t l = static_cast<int64_t>(p[3].size()) - 1; // inner dimension
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 2) {
      auto bt = csr_transpose(p[3], p[4], n_cols_b_, s);
      array bt_data = mx::take(p[5], bt[2], 0, s);
      grads.push_back(csr_spgemm(p[6], p[7], dc, bt[0], bt[1], bt_data, p[0], p[1], l, s));
    } else if (arg == 5) {
      auto at = csr_transpose(p[0], p[1], l, s);
      array at_data = mx::take(p[2], at[2], 0, s);
      grads.push_back(csr_spgemm(at[0], at[1], at_data, p[6], p[7], dc, p[3], p[4], n_cols_b_, s));
    } else {
      throw_index_grad("csr_spgemm");
    }
  }
  return grads;
}

std::vector<array> CsrSpgemm::jvp(const std::vector<array>& p, const std::vector<array>& tangents,
                                  const std::vector<int>& argnums) {
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] != 2 && argnums[i] != 5) {
      throw_index_grad("csr_spgemm");
    }
    const array& a = argnums[i] == 2 ? tangents[i] : p[2];
    const array& b = argnums[i] == 5 ? tangents[i] : p[5];
    array term = csr_spgemm(p[0], p[1], a, p[3], p[4], b, p[6], p[7], n_cols_b_, stream());
    out = out ? mx::add(*out, term, stream()) : term;
  }
  return {*out};
}

// vmap over values: one product per batch entry (the patterns are shared).
std::pair<std::vector<array>, std::vector<int>> CsrSpgemm::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  for (int i : {0, 1, 3, 4, 6, 7}) {
    if (axes[i] >= 0) {
      throw std::invalid_argument("[csr_spgemm] vmap over the sparse structure is not supported.");
    }
  }
  auto s = stream();
  int size = axes[2] >= 0 ? inputs[2].shape(axes[2]) : inputs[5].shape(axes[5]);
  std::vector<array> outs;
  for (int v = 0; v < size; ++v) {
    array a = axes[2] >= 0 ? mx::take(inputs[2], v, axes[2], s) : inputs[2];
    array b = axes[5] >= 0 ? mx::take(inputs[5], v, axes[5], s) : inputs[5];
    outs.push_back(csr_spgemm(inputs[0], inputs[1], a, inputs[3], inputs[4], b, inputs[6],
                              inputs[7], n_cols_b_, s));
  }
  return {{mx::stack(outs, 0, s)}, {0}};
}

std::vector<Shape> CsrSpgemm::output_shapes(const std::vector<array>& inputs) {
  return {{static_cast<int>(inputs[7].size())}};
}

bool CsrSpgemm::is_equivalent(const Primitive& other) const {
  return n_cols_b_ == static_cast<const CsrSpgemm&>(other).n_cols_b_;
}

} // namespace mlx_sparse
