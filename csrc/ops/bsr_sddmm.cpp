// bsr_sddmm: a dense-dense product sampled at a block pattern, and its transforms (written
// with bsr_spmm, so they run wherever it does and differentiate again).
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array bsr_sddmm(const array& indptr, const array& indices, const array& g, const array& b,
                int64_t block_rows, int64_t block_cols, const std::vector<array>& transposed,
                StreamOrDevice sd) {
  const char* op = "bsr_sddmm";
  auto s = mx::to_stream(sd);
  const int64_t mb = check_structure(op, indptr, indices);
  if (block_rows < 1 || block_cols < 1) {
    Message msg;
    msg << "[" << op << "] the block size must be positive, got (" << block_rows << ", "
        << block_cols << ").";
    throw std::invalid_argument(msg.str());
  }
  if (g.ndim() < 2 || b.ndim() < 2 || g.shape(-2) != mb * block_rows ||
      b.shape(-2) % block_cols != 0 || g.shape(-1) != b.shape(-1)) {
    Message msg;
    msg << "[" << op << "] dimension mismatch with signature (...,Mb*R=" << mb * block_rows
        << ",k),(...,Nb*C,k)->(...,nnzb,R,C) for blocks (" << block_rows << ", " << block_cols
        << "): got G of shape " << shape_str(g.shape()) << " and B of shape "
        << shape_str(b.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  auto dtype = value_dtype(op, {g, b}, s);
  auto batch = batch_shape(op, {g, b}, {2, 2});
  auto gg = fit_batch(cast(g, dtype, s), 2, batch, s);
  auto bb = fit_batch(cast(b, dtype, s), 2, batch, s);
  mx::Shape out = batch;
  out.push_back(dim(op, indices.size(), "blocks"));
  out.push_back(dim(op, block_rows, "block rows"));
  out.push_back(dim(op, block_cols, "block columns"));
  std::vector<array> riding;
  if (!transposed.empty()) {
    riding = prepare_transposed(op, transposed, indptr, indices, b.shape(-2) / block_cols, "Nb", s);
  }
  return array(out, dtype, std::make_shared<BsrSddmm>(s, block_rows, block_cols, std::move(riding)),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(gg, dtype, s),
                prepare(bb, dtype, s)});
}

std::vector<array> BsrSddmm::vjp(const std::vector<array>& primals,
                                 const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  const auto &indptr = primals[0], &indices = primals[1], &g = primals[2], &b = primals[3];
  const auto& cot = cotangents[0];
  auto s = stream();
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2) {
      throw_index_grad("bsr_sddmm");
    }
    if (arg == 2) { // d/dG = S_bar @ B
      grads.push_back(sum_to_shape(bsr_spmm(indptr, indices, cot, b, riding_, s), g.shape(), s));
    } else { // d/dB = S_bar^T @ G, over A^T's block structure
      auto t = bsr_transposed_structure(riding_, indptr, indices, b.shape(-2) / block_cols_, s);
      array blocks = bsr_transposed_blocks(cot, t[2], s);
      grads.push_back(sum_to_shape(bsr_spmm(t[0], t[1], blocks, g, {}, s), b.shape(), s));
    }
  }
  return grads;
}

std::vector<array> BsrSddmm::jvp(const std::vector<array>& primals,
                                 const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] < 2) {
      throw_index_grad("bsr_sddmm");
    }
    const bool dg = argnums[i] == 2;
    array term = bsr_sddmm(primals[0], primals[1], dg ? tangents[i] : primals[2],
                           dg ? primals[3] : tangents[i], block_rows_, block_cols_, riding_,
                           stream());
    out = out ? mx::add(*out, term, stream()) : term;
  }
  return {*out};
}

std::pair<std::vector<array>, std::vector<int>> BsrSddmm::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  auto in = vmap_align("bsr_sddmm", inputs, axes, {1, 1, 2, 2}, 2, stream());
  return {{bsr_sddmm(in[0], in[1], in[2], in[3], block_rows_, block_cols_, riding_, stream())},
          {0}};
}

std::vector<Shape> BsrSddmm::output_shapes(const std::vector<array>& inputs) {
  auto batch = batch_shape("bsr_sddmm", {inputs[2], inputs[3]}, {2, 2});
  batch.push_back(inputs[1].size());
  batch.push_back(block_rows_);
  batch.push_back(block_cols_);
  return {batch};
}

bool BsrSddmm::is_equivalent(const Primitive& other) const {
  auto& o = static_cast<const BsrSddmm&>(other);
  return block_rows_ == o.block_rows_ && block_cols_ == o.block_cols_ &&
         same_arrays(riding_, o.riding_);
}

} // namespace mlx_sparse
