// bsr_spmm: a block CSR matrix times a dense matrix, and its transforms. The gradients are
// bsr_sddmm and bsr_spmm over A^T's block structure, so they run wherever these do and
// differentiate again.
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array bsr_spmm(const array& indptr, const array& indices, const array& data, const array& x,
               const std::vector<array>& transposed, StreamOrDevice sd) {
  const char* op = "bsr_spmm";
  auto s = mx::to_stream(sd);
  const int64_t mb = check_structure(op, indptr, indices);
  if (data.ndim() < 3 || data.shape(-3) != static_cast<int>(indices.size()) ||
      data.shape(-2) < 1 || data.shape(-1) < 1) {
    Message msg;
    msg << "[" << op << "] data must have shape (..., nnzb, R, C) with nnzb = " << indices.size()
        << " and R, C >= 1, but has shape " << shape_str(data.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  const int64_t R = data.shape(-2), C = data.shape(-1);
  if (x.ndim() < 2 || x.shape(-2) % C != 0) {
    Message msg;
    msg << "[" << op << "] dimension mismatch with signature (Mb=" << mb << " x R=" << R
        << ", Nb x C=" << C << "),(...,Nb*C,k)->(...,Mb*R,k): X has shape "
        << shape_str(x.shape()) << ", whose rows are not a multiple of C.";
    throw std::invalid_argument(msg.str());
  }
  const int64_t nb = x.shape(-2) / C;
  auto dtype = value_dtype(op, {data, x}, s);
  auto batch = batch_shape(op, {data, x}, {3, 2});
  auto d = fit_batch(cast(data, dtype, s), 3, batch, s);
  auto xx = fit_batch(cast(x, dtype, s), 2, batch, s);
  mx::Shape out = batch;
  out.push_back(dim(op, mb * R, "rows"));
  out.push_back(x.shape(-1));
  std::vector<array> riding;
  if (!transposed.empty()) {
    riding = prepare_transposed(op, transposed, indptr, indices, nb, "Nb", s);
  }
  return array(out, dtype, std::make_shared<BsrSpmm>(s, std::move(riding)),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(d, dtype, s),
                prepare(xx, dtype, s)});
}

std::vector<array> BsrSpmm::vjp(const std::vector<array>& primals,
                                const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  const auto &indptr = primals[0], &indices = primals[1], &data = primals[2], &x = primals[3];
  const auto& cot = cotangents[0];
  const int64_t R = data.shape(-2), C = data.shape(-1);
  auto s = stream();
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("bsr_spmm");
    }
    if (arg == 2) { // d/d data = dY sampled against X at A's blocks
      grads.push_back(sum_to_shape(bsr_sddmm(indptr, indices, cot, x, R, C, riding_, s),
                                   data.shape(), s));
    } else { // d/dX = A^T @ dY
      auto t = bsr_transposed_structure(riding_, indptr, indices, x.shape(-2) / C, s);
      array g = bsr_spmm(t[0], t[1], bsr_transposed_blocks(data, t[2], s), cot, {}, s);
      grads.push_back(sum_to_shape(g, x.shape(), s));
    }
  }
  return grads;
}

std::vector<array> BsrSpmm::jvp(const std::vector<array>& primals,
                                const std::vector<array>& tangents,
                                const std::vector<int>& argnums) {
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] < 2) {
      throw_index_grad("bsr_spmm");
    }
    const bool d = argnums[i] == 2;
    array term = bsr_spmm(primals[0], primals[1], d ? tangents[i] : primals[2],
                          d ? primals[3] : tangents[i], riding_, stream());
    out = out ? mx::add(*out, term, stream()) : term;
  }
  return {*out};
}

std::pair<std::vector<array>, std::vector<int>> BsrSpmm::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  auto in = vmap_align("bsr_spmm", inputs, axes, {1, 1, 3, 2}, 2, stream());
  return {{bsr_spmm(in[0], in[1], in[2], in[3], riding_, stream())}, {0}};
}

std::vector<Shape> BsrSpmm::output_shapes(const std::vector<array>& inputs) {
  auto batch = batch_shape("bsr_spmm", {inputs[2], inputs[3]}, {3, 2});
  batch.push_back((static_cast<int>(inputs[0].size()) - 1) * inputs[2].shape(-2));
  batch.push_back(inputs[3].shape(-1));
  return {batch};
}

bool BsrSpmm::is_equivalent(const Primitive& other) const {
  return same_arrays(riding_, static_cast<const BsrSpmm&>(other).riding_);
}

} // namespace mlx_sparse
