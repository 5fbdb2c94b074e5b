// spmv and spmm: products of a CSR matrix with dense vectors or matrices, and their
// transforms. Both primitives share one shape of inputs: (indptr, indices, data, dense),
// where the dense operand has core rank 1 (spmv) or 2 (spmm).
#include <cstring>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

// Dense widths from which A^T @ B is computed by gathering over A^T (see product()).
constexpr int kGatherTransposeMinK = 16;

// B as one column (..., n, 1) when B is a lazy broadcast along k (every row constant: a sum's
// cotangent, say), so that the product is that column's, broadcast: not k equal columns.
std::optional<array> broadcast_column(const array& b) {
  if (!b.has_primitive() || std::strcmp(b.primitive().name(), "Broadcast") != 0) {
    return std::nullopt;
  }
  const auto& src = b.inputs()[0];
  if (src.ndim() > 0 && src.shape(-1) != 1) {
    return std::nullopt;
  }
  auto shape = b.shape();
  shape.back() = 1;
  return mx::broadcast_to(src, shape, b.primitive().stream());
}

array product(const char* op, bool vector, const array& indptr, const array& indices,
              const array& data, const array& dense, int64_t n_cols, bool transpose,
              const std::vector<array>& transposed, RowLengths lengths, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  int64_t m = check_structure(op, indptr, indices);
  const int core = vector ? 1 : 2;
  if (n_cols < 0) {
    throw std::invalid_argument(std::string("[") + op + "] n_cols must be non-negative.");
  }
  if (data.ndim() < 1 || data.shape(-1) != indices.size()) {
    Message msg;
    msg << "[" << op << "] data must have shape (..., nnz) with nnz = " << indices.size()
        << " but has shape " << shape_str(data.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  const int64_t inner = transpose ? m : n_cols;
  if (static_cast<int>(dense.ndim()) < core || dense.shape(-core) != inner) {
    Message msg;
    msg << "[" << op << "] dimension mismatch with signature (m=" << m << ",n=" << n_cols << ")"
        << (transpose ? "^T,(...,m" : ",(...,n") << "=" << inner << (vector ? ")" : ",k)")
        << "->(...," << (transpose ? "n" : "m") << (vector ? ")" : ",k)")
        << ", but the dense operand has shape " << shape_str(dense.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!vector && dense.shape(-1) > 1) {
    if (auto column = broadcast_column(dense)) {
      auto y = product(op, false, indptr, indices, data, *column, n_cols, transpose, transposed,
                       lengths, s);
      auto shape = y.shape();
      shape.back() = dense.shape(-1);
      return mx::broadcast_to(y, shape, s);
    }
  }
  auto dtype = value_dtype(op, {data, dense}, s);
  auto batch = batch_shape(op, {data, dense}, {1, core});
  auto d = fit_batch(cast(data, dtype, s), 1, batch, s);
  auto x = fit_batch(cast(dense, dtype, s), core, batch, s);
  mx::Shape out = batch;
  out.push_back(dim(op, transpose ? n_cols : m, transpose ? "columns" : "rows"));
  if (!vector) {
    out.push_back(dense.shape(-1));
  }
  std::vector<array> inputs = {prepare_indptr(indptr, s), prepare_index(indices, s),
                               prepare(d, dtype, s), prepare(x, dtype, s)};
  std::vector<array> riding;
  if (!transposed.empty()) {
    auto t = prepare_transposed(op, transposed, inputs[0], inputs[1], n_cols, "n_cols", s);
    // read by a transposed product, carried by a plain one
    auto& to = transpose ? inputs : riding;
    to.insert(to.end(), t.begin(), t.end());
  } else if (transpose && !vector && dense.shape(-1) >= kGatherTransposeMinK) {
    // A^T @ B as a gather over A^T's structure: scattering into rows of the output costs
    // about 2.5x the gather for wide B, and the transpose (O(nnz)) is cheaper than that.
    auto t = csr_transpose(inputs[0], inputs[1], n_cols, s);
    inputs.insert(inputs.end(), t.begin(), t.end());
  }
  std::shared_ptr<Primitive> prim;
  if (vector) {
    prim = std::make_shared<CsrSpmv>(s, n_cols, transpose, lengths, std::move(riding));
  } else {
    prim = std::make_shared<CsrSpmm>(s, n_cols, transpose, lengths, std::move(riding));
  }
  return array(out, dtype, prim, inputs);
}

// A^T's structure, if the primitive has it: inputs 4..6 (transposed) or riding (plain).
std::vector<array> transposed_inputs(const std::vector<array>& in,
                                     const std::vector<array>& riding) {
  if (in.size() > 4) {
    return std::vector<array>(in.begin() + 4, in.end());
  }
  return riding;
}

// d/d data of A @ X (or A^T @ X): sddmm of the cotangent and X, summed over broadcast dims.
array product_vjp_data(bool vector, bool transpose, const std::vector<array>& primals,
                       const array& cot, mx::Stream s) {
  const auto &indptr = primals[0], &indices = primals[1], &data = primals[2], &x = primals[3];
  array g = vector ? mx::expand_dims(cot, -1, s) : cot;
  array b = vector ? mx::expand_dims(x, -1, s) : x;
  array grad = transpose ? csr_sddmm(indptr, indices, b, g, s) : csr_sddmm(indptr, indices, g, b, s);
  return sum_to_shape(grad, data.shape(), s);
}

std::vector<array> product_vjp(const char* op, bool vector, int64_t n_cols, bool transpose,
                               RowLengths lengths, const std::vector<array>& riding,
                               const std::vector<array>& primals,
                               const array& cot,
                               const std::vector<int>& argnums, mx::Stream s) {
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg < 2 || arg > 3) { // indptr, indices (and A^T's structure, when present)
      throw_index_grad(op);
    } else if (arg == 2) {
      grads.push_back(product_vjp_data(vector, transpose, primals, cot, s));
    } else {
      const auto& data = primals[2];
      auto t = transposed_inputs(primals, riding);
      const auto &ip = primals[0], &ix = primals[1];
      array g = vector ? csr_spmv(ip, ix, data, cot, n_cols, !transpose, t, lengths, s)
                       : csr_spmm(ip, ix, data, cot, n_cols, !transpose, t, lengths, s);
      grads.push_back(sum_to_shape(g, primals[3].shape(), s));
    }
  }
  return grads;
}

array product_jvp(const char* op, bool vector, int64_t n_cols, bool transpose,
                  RowLengths lengths, const std::vector<array>& riding,
                  const std::vector<array>& primals, const std::vector<array>& tangents,
                  const std::vector<int>& argnums, mx::Stream s) {
  auto t = transposed_inputs(primals, riding);
  auto apply = [&](const array& d, const array& x) {
    return vector ? csr_spmv(primals[0], primals[1], d, x, n_cols, transpose, t, lengths, s)
                  : csr_spmm(primals[0], primals[1], d, x, n_cols, transpose, t, lengths, s);
  };
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] < 2) {
      throw_index_grad(op);
    }
    array term = argnums[i] == 2 ? apply(tangents[i], primals[3]) : apply(primals[2], tangents[i]);
    out = out ? mx::add(*out, term, s) : term;
  }
  return *out;
}

std::pair<std::vector<array>, std::vector<int>> product_vmap(
    const char* op, bool vector, int64_t n_cols, bool transpose, RowLengths lengths,
    const std::vector<array>& riding, const std::vector<array>& inputs,
    const std::vector<int>& axes, mx::Stream s) {
  for (size_t i = 4; i < inputs.size(); ++i) { // A^T's structure, when present
    if (axes[i] >= 0) {
      throw_index_grad(op);
    }
  }
  std::vector<array> own(inputs.begin(), inputs.begin() + 4);
  std::vector<int> own_axes(axes.begin(), axes.begin() + 4);
  auto in = vmap_align(op, own, own_axes, {1, 1, 1, vector ? 1 : 2}, 2, s);
  auto t = transposed_inputs(inputs, riding);
  array out = vector ? csr_spmv(in[0], in[1], in[2], in[3], n_cols, transpose, t, lengths, s)
                     : csr_spmm(in[0], in[1], in[2], in[3], n_cols, transpose, t, lengths, s);
  return {{out}, {0}};
}

std::vector<Shape> product_shapes(bool vector, int64_t n_cols, bool transpose,
                                  const std::vector<array>& inputs) {
  const int core = vector ? 1 : 2;
  auto batch = batch_shape("csr_spmm", {inputs[2], inputs[3]}, {1, core});
  batch.push_back(transpose ? n_cols : static_cast<int>(inputs[0].size()) - 1);
  if (!vector) {
    batch.push_back(inputs[3].shape(-1));
  }
  return {batch};
}

} // namespace

array csr_spmv(const array& indptr, const array& indices, const array& data, const array& x,
               int64_t n_cols, bool transpose, const std::vector<array>& transposed,
               RowLengths lengths, StreamOrDevice s) {
  return product("csr_spmv", true, indptr, indices, data, x, n_cols, transpose, transposed,
                 lengths, s);
}

array csr_spmm(const array& indptr, const array& indices, const array& data, const array& b,
               int64_t n_cols, bool transpose, const std::vector<array>& transposed,
               RowLengths lengths, StreamOrDevice s) {
  return product("csr_spmm", false, indptr, indices, data, b, n_cols, transpose, transposed,
                 lengths, s);
}

#define MLX_SPARSE_PRODUCT_TRANSFORMS(Prim, op, is_vector)                                     \
  std::vector<array> Prim::vjp(const std::vector<array>& primals,                              \
                               const std::vector<array>& cotangents,                           \
                               const std::vector<int>& argnums, const std::vector<array>&) {   \
    return product_vjp(op, is_vector, n_cols_, transpose_, lengths_, riding_, primals,         \
                       cotangents[0], argnums, stream());                                      \
  }                                                                                            \
  std::vector<array> Prim::jvp(const std::vector<array>& primals,                              \
                               const std::vector<array>& tangents,                             \
                               const std::vector<int>& argnums) {                              \
    return {product_jvp(op, is_vector, n_cols_, transpose_, lengths_, riding_, primals,        \
                        tangents, argnums, stream())};                                         \
  }                                                                                            \
  std::pair<std::vector<array>, std::vector<int>> Prim::vmap(const std::vector<array>& inputs, \
                                                             const std::vector<int>& axes) {   \
    return product_vmap(op, is_vector, n_cols_, transpose_, lengths_, riding_, inputs, axes,   \
                        stream());                                                             \
  }                                                                                            \
  std::vector<Shape> Prim::output_shapes(const std::vector<array>& inputs) {                   \
    return product_shapes(is_vector, n_cols_, transpose_, inputs);                             \
  }                                                                                            \
  bool Prim::is_equivalent(const Primitive& other) const {                                     \
    auto& o = static_cast<const Prim&>(other);                                                 \
    return n_cols_ == o.n_cols_ && transpose_ == o.transpose_ && lengths_ == o.lengths_ &&     \
           same_arrays(riding_, o.riding_);                                                    \
  }

MLX_SPARSE_PRODUCT_TRANSFORMS(CsrSpmv, "csr_spmv", true)
MLX_SPARSE_PRODUCT_TRANSFORMS(CsrSpmm, "csr_spmm", false)
#undef MLX_SPARSE_PRODUCT_TRANSFORMS

} // namespace mlx_sparse
