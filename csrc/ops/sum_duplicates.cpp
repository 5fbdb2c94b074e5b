// sum_duplicates: the values of a canonical form, given the slot of every input entry
// (from the host-side coo_tocsr). Also carries a pure permutation (sort_indices).
#include <sstream>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array csr_sum_duplicates(const array& data, const array& slot, int64_t n_out, StreamOrDevice sd) {
  const char* op = "csr_sum_duplicates";
  auto s = mx::to_stream(sd);
  if (slot.ndim() != 1 || (slot.dtype() != mx::int32 && slot.dtype() != mx::int64)) {
    throw std::invalid_argument("[csr_sum_duplicates] slot must be a 1-D int32 or int64 array.");
  }
  if (data.ndim() < 1 || data.shape(-1) != slot.size()) {
    Message msg;
    msg << "[" << op << "] data must have shape (..., " << slot.size() << ") but has shape "
        << shape_str(data.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (n_out < 0) {
    throw std::invalid_argument("[csr_sum_duplicates] n_out must be non-negative.");
  }
  auto dtype = value_dtype(op, {data}, s);
  mx::Shape out(data.shape().begin(), data.shape().end() - 1);
  out.push_back(dim(op, n_out, "stored entries"));
  return array(out, dtype, std::make_shared<CsrSumDuplicates>(s, n_out),
               {prepare(data, dtype, s), prepare_index(slot, s)});
}

std::vector<array> CsrSumDuplicates::vjp(const std::vector<array>& primals,
                                         const std::vector<array>& cotangents,
                                         const std::vector<int>& argnums,
                                         const std::vector<array>&) {
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg != 0) {
      throw_index_grad("csr_sum_duplicates");
    }
    grads.push_back(take_entries(cotangents[0], primals[1], std::nullopt, -1, stream()));
  }
  return grads;
}

std::vector<array> CsrSumDuplicates::jvp(const std::vector<array>& primals,
                                         const std::vector<array>& tangents,
                                         const std::vector<int>& argnums) {
  if (argnums.size() != 1 || argnums[0] != 0) {
    throw_index_grad("csr_sum_duplicates");
  }
  return {csr_sum_duplicates(tangents[0], primals[1], n_out_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> CsrSumDuplicates::vmap(
    const std::vector<array>& inputs, const std::vector<int>& axes) {
  if (axes[1] >= 0) {
    throw std::invalid_argument("[csr_sum_duplicates] vmap over the slots is not supported.");
  }
  array d = axes[0] >= 0 ? mx::moveaxis(inputs[0], axes[0], 0, stream()) : inputs[0];
  return {{csr_sum_duplicates(d, inputs[1], n_out_, stream())}, {axes[0] >= 0 ? 0 : -1}};
}

std::vector<Shape> CsrSumDuplicates::output_shapes(const std::vector<array>& inputs) {
  Shape out(inputs[0].shape().begin(), inputs[0].shape().end() - 1);
  out.push_back(static_cast<int>(n_out_));
  return {out};
}

bool CsrSumDuplicates::is_equivalent(const Primitive& other) const {
  return n_out_ == static_cast<const CsrSumDuplicates&>(other).n_out_;
}

} // namespace mlx_sparse
