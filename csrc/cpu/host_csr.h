// Arrays the host-side symbolic steps return, and the validation of the CSR structures they
// read (they index with them on the host, so nothing unchecked may pass).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "message.h"
#include "mlx/allocator.h"
#include "mlx/array.h"

namespace mlx_sparse::cpu {

namespace mx = mlx::core;
using mlx::core::array;

// An evaluated int32 / int64 array of n entries (copied from host when given).
template <typename I>
array new_index_array(int64_t n, std::vector<I>&& host = {}) {
  array a(mx::allocator::malloc(std::max<int64_t>(n, 1) * sizeof(I)), {static_cast<int>(n)},
          sizeof(I) == 8 ? mx::int64 : mx::int32);
  if (!host.empty()) {
    std::copy(host.begin(), host.end(), a.data<I>());
  }
  return a;
}

// Throws unless indptr/indices form a valid CSR structure with columns in [0, n).
template <typename I>
void validate_csr(const char* op, const char* name, const I* indptr, const I* indices, int64_t m,
                  int64_t nnz, int64_t n) {
  Message msg;
  if (indptr[0] != 0 || static_cast<int64_t>(indptr[m]) != nnz) {
    msg << "[" << op << "] " << name << ": indptr must start at 0 and end at nnz = " << nnz
        << " but runs from " << indptr[0] << " to " << indptr[m] << ".";
    throw std::invalid_argument(msg.str());
  }
  for (int64_t i = 0; i < m; ++i) {
    if (indptr[i + 1] < indptr[i]) {
      msg << "[" << op << "] " << name << ": indptr decreases at row " << i << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  for (int64_t q = 0; q < nnz; ++q) {
    if (indices[q] < 0 || indices[q] >= n) {
      msg << "[" << op << "] " << name << ": column index " << indices[q]
          << " is out of range for " << n << " columns.";
      throw std::invalid_argument(msg.str());
    }
  }
}

} // namespace mlx_sparse::cpu
