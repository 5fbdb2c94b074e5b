// transpose: A^T's structure and the permutation that carries A's values to it.
#include <stdexcept>

#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

std::vector<array> csr_transpose(const array& indptr, const array& indices, int64_t n_cols,
                                 StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  check_structure("csr_transpose", indptr, indices);
  if (n_cols < 0) {
    throw std::invalid_argument("[csr_transpose] n_cols must be non-negative.");
  }
  const int rows_t = dim("csr_transpose", n_cols + 1, "row pointers in A^T (n_cols + 1)");
  auto prim = std::make_shared<CsrTranspose>(s, n_cols);
  int nnz = static_cast<int>(indices.size());
  return array::make_arrays({{rows_t}, {nnz}, {nnz}},
                            {indptr.dtype(), indptr.dtype(), indptr.dtype()}, prim,
                            {prepare_indptr(indptr, s), prepare_index(indices, s)});
}

std::vector<Shape> CsrTranspose::output_shapes(const std::vector<array>& inputs) {
  int nnz = static_cast<int>(inputs[1].size());
  return {{static_cast<int>(n_cols_) + 1}, {nnz}, {nnz}};
}

bool CsrTranspose::is_equivalent(const Primitive& other) const {
  return n_cols_ == static_cast<const CsrTranspose&>(other).n_cols_;
}

} // namespace mlx_sparse
