// A^T's structure (csr_transpose's indptr_t, indices_t, perm) as the products carry it: a
// cache the caller keeps, checked and prepared once, and the blocks of a block CSR A^T.
#include <stdexcept>
#include <string>

#include "ops/common.h"

namespace mlx_sparse::detail {

std::vector<array> prepare_transposed(const char* op, const std::vector<array>& t,
                                      const array& indptr, const array& indices, int64_t n_cols,
                                      const char* n_cols_name, mx::Stream s) {
  const bool ok = t.size() == 3 && t[0].ndim() == 1 && t[0].size() == size_t(n_cols + 1) &&
                  t[1].ndim() == 1 && t[1].size() == indices.size() && t[2].ndim() == 1 &&
                  t[2].size() == indices.size() && t[0].dtype() == indptr.dtype() &&
                  t[1].dtype() == indptr.dtype() && t[2].dtype() == indptr.dtype();
  if (!ok) {
    throw std::invalid_argument(std::string("[") + op + "] transposed must be csr_transpose(indptr, indices, " +
                                n_cols_name + ").");
  }
  return {prepare_indptr(t[0], s), prepare_index(t[1], s),
          prepare_entries(t[2], indices.size(), s)};
}

bool same_arrays(const std::vector<array>& a, const std::vector<array>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id() != b[i].id()) {
      return false;
    }
  }
  return true;
}

std::vector<array> bsr_transposed_structure(const std::vector<array>& riding,
                                            const array& indptr, const array& indices,
                                            int64_t n_block_cols, mx::Stream s) {
  return riding.empty() ? csr_transpose(indptr, indices, n_block_cols, s) : riding;
}

array bsr_transposed_blocks(const array& blocks, const array& perm, mx::Stream s) {
  return mx::swapaxes(take_entries(blocks, perm, std::nullopt, -3, s), -1, -2, s);
}

} // namespace mlx_sparse::detail
