// row_gather: the values of A[rows]. On the CPU a row copy (a primitive); on GPU streams a
// take at the positions of the rows' entries, which the gradient uses on every backend too.
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

constexpr const char* kOp = "csr_row_gather";

// The entry of A that each entry of A[rows] copies: indptr[rows[r]] + (e - new_indptr[r])
// for e in output row r (MLX ops: lazy, on any device).
array positions(const array& indptr, const array& rows, const array& new_indptr, int64_t nnz_out,
                mx::Stream s) {
  array e = mx::arange(static_cast<int>(nnz_out), indptr.dtype(), s);
  array r = csr_rows(new_indptr, e, s);
  array start = mx::take(indptr, mx::take(rows, r, 0, s), 0, s);
  return mx::add(start, mx::subtract(e, mx::take(new_indptr, r, 0, s), s), s);
}

} // namespace

array csr_row_gather(const array& indptr, const array& data, const array& rows,
                     const array& new_indptr, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  check_structure(kOp, indptr, rows);
  if (new_indptr.ndim() != 1 || new_indptr.dtype() != indptr.dtype() ||
      new_indptr.size() != rows.size() + 1) {
    Message msg;
    msg << "[" << kOp << "] new_indptr must be 1-D of " << rows.size() + 1
        << " entries (rows + 1) and indptr's dtype, from csr_row_gather_structure; got "
        << shape_str(new_indptr.shape()) << " of " << new_indptr.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }
  if (data.ndim() < 1) {
    throw std::invalid_argument("[csr_row_gather] data must have shape (..., nnz).");
  }
  array ends = new_indptr; // its last entry is the result's size (from the host structure)
  ends.eval();
  const int64_t k = static_cast<int64_t>(rows.size());
  const int64_t nnz_out = static_cast<int64_t>(
      indptr.dtype() == mx::int64 ? ends.data<int64_t>()[k] : ends.data<int32_t>()[k]);
  auto dtype = value_dtype(kOp, {data}, s);
  mx::Shape shape = data.shape();
  shape.back() = dim(kOp, nnz_out, "stored entries");
  if (nnz_out == 0) { // an empty result: no kernel, no empty index arrays
    return mx::zeros(shape, dtype, s);
  }
  if (gpu_path(s)) {
    array pos = positions(prepare_indptr(indptr, s), rows, new_indptr, nnz_out, s);
    return take_entries(cast(data, dtype, s), pos, std::nullopt, -1, s);
  }
  return array(shape, dtype, std::make_shared<CsrRowGather>(s),
               {prepare_indptr(indptr, s), prepare(data, dtype, s), prepare_index(rows, s),
                prepare_indptr(new_indptr, s)});
}

// d data: the cotangent added back at the positions it was copied from (rows may repeat).
std::vector<array> CsrRowGather::vjp(const std::vector<array>& p, const std::vector<array>& cot,
                                     const std::vector<int>& argnums,
                                     const std::vector<array>&) {
  auto s = stream();
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg != 1) {
      throw_index_grad(kOp);
    }
    if (cot[0].shape(-1) == 0) { // nothing was copied: nothing flows back
      grads.push_back(mx::zeros(p[1].shape(), cot[0].dtype(), s));
      continue;
    }
    array c = mx::reshape(cot[0], {-1, cot[0].shape(-1)}, s);             // (batch, nnz_out)
    array upd = mx::expand_dims(mx::swapaxes(c, 0, 1, s), 1, s);            // (nnz_out, 1, batch)
    array pos = positions(p[0], p[2], p[3], c.shape(1), s);
    array zero = mx::zeros({p[1].shape(-1), c.shape(0)}, c.dtype(), s);     // (nnz, batch)
    array sums = mx::swapaxes(mx::scatter_add(zero, pos, upd, 0, s), 0, 1, s);
    mx::Shape shape = cot[0].shape();
    shape.back() = p[1].shape(-1);
    grads.push_back(mx::reshape(sums, shape, s));
  }
  return grads;
}

// Linear in data: the same gather of the tangent.
std::vector<array> CsrRowGather::jvp(const std::vector<array>& p, const std::vector<array>& t,
                                     const std::vector<int>& argnums) {
  if (argnums.size() != 1 || argnums[0] != 1) {
    throw_index_grad(kOp);
  }
  return {csr_row_gather(p[0], t[0], p[2], p[3], stream())};
}

// vmap over data: its batch axis moved in front, where the kernel batches.
std::pair<std::vector<array>, std::vector<int>> CsrRowGather::vmap(
    const std::vector<array>& in, const std::vector<int>& axes) {
  if (axes[0] >= 0 || axes[2] >= 0 || axes[3] >= 0) {
    throw std::invalid_argument(
        "[csr_row_gather] vmap over the sparse structure is not supported.");
  }
  array data = axes[1] > 0 ? mx::moveaxis(in[1], axes[1], 0, stream()) : in[1];
  return {{csr_row_gather(in[0], data, in[2], in[3], stream())}, {axes[1] >= 0 ? 0 : -1}};
}

// The result's size is the rows' lengths, a value: nothing for a shapeless compile to infer.
std::vector<Shape> CsrRowGather::output_shapes(const std::vector<array>&) {
  throw std::invalid_argument("[csr_row_gather] the result's size depends on the rows' lengths: "
                              "it cannot be compiled shapeless.");
}

} // namespace mlx_sparse
