// coo_tocsr: the CSR pattern of COO entries. CPU streams sort on the host (cpu/symbolic.cpp);
// other streams compose two stable csr_transpose sorts with MLX ops, so every GPU backend has it.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "message.h"
#include "mlx/transforms.h"
#include "ops/common.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

// Raises the host path's error for the first entry outside (m, n): one read of four scalars.
void check_range(const array& rows, const array& cols, int64_t m, int64_t n, mx::Stream s) {
  auto it = rows.dtype();
  // last valid index, clamped to the dtype (m = 0 gives -1: every entry is out of range)
  auto last = [&](int64_t extent) {
    int64_t top = it == mx::int32 ? std::numeric_limits<int32_t>::max()
                                  : std::numeric_limits<int64_t>::max();
    return mx::array(std::min(extent - 1, top), it);
  };
  auto outside = [&](const array& x, int64_t extent) {
    return mx::logical_or(mx::less(x, mx::array(0, it), s), mx::greater(x, last(extent), s), s);
  };
  // uint8, which every backend's argmax takes
  array bad = mx::astype(mx::logical_or(outside(rows, m), outside(cols, n), s), mx::uint8, s);
  array first = mx::argmax(bad, s);
  std::vector<array> parts = {mx::take(bad, first, s), first, mx::take(rows, first, s),
                              mx::take(cols, first, s)};
  for (auto& p : parts) {
    p = mx::reshape(mx::astype(p, mx::int64, s), {1}, s);
  }
  array info = mx::concatenate(parts, 0, s);
  mx::eval(info);
  const int64_t* v = info.data<int64_t>();
  if (v[0]) {
    throw_coo_out_of_range(v[1], v[2], v[3], m, n);
  }
}

std::vector<array> composed(const array& rows, const array& cols, int64_t m, int64_t n,
                            bool sum_duplicates, mx::Stream s) {
  dim("coo_tocsr", n + 1, "row pointers in the column sort (n + 1) on this path");
  auto it = rows.dtype();
  const int nnz = static_cast<int>(rows.size());
  if (nnz == 0) {
    return {mx::zeros({static_cast<int>(m) + 1}, it, s), mx::zeros({0}, it, s),
            mx::zeros({0}, it, s)};
  }
  check_range(rows, cols, m, n, s);
  // A matrix of one entry per row, transposed, lists the entries by its columns, stably.
  array ptr = mx::arange(0, nnz + 1, 1, it, s);
  array by_col = csr_transpose(ptr, cols, n, s)[2];
  auto by_row = csr_transpose(ptr, mx::take(rows, by_col, s), m, s);
  array order = mx::take(by_col, by_row[2], s); // sorted by (row, col), stable
  array sorted_cols = mx::take(cols, order, s);
  array zeros = mx::zeros({nnz}, it, s);
  if (!sum_duplicates) {
    array slot = mx::put_along_axis(zeros, order, mx::arange(0, nnz, 1, it, s), 0, s);
    return {by_row[0], sorted_cols, slot};
  }
  // A new output entry starts wherever (row, col) changes; pos = its place among them.
  array sorted_rows = mx::take(rows, order, s);
  auto step = [&](const array& x) {
    return mx::not_equal(mx::slice(x, {1}, {nnz}, s), mx::slice(x, {0}, {nnz - 1}, s), s);
  };
  array head = mx::concatenate(
      {mx::ones({1}, mx::bool_, s), mx::logical_or(step(sorted_rows), step(sorted_cols), s)}, 0, s);
  array count = mx::cumsum(mx::astype(head, it, s), 0, false, true, s);
  array pos = mx::subtract(count, mx::array(1, it), s);
  // the one read the shapes need: the number of output entries
  array last = mx::astype(mx::slice(count, {nnz - 1}, {nnz}, s), mx::int64, s);
  const int nnz_out = static_cast<int>(last.item<int64_t>());
  array indices = mx::put_along_axis(mx::zeros({nnz_out}, it, s), pos, sorted_cols, 0, s);
  array indptr = mx::take(mx::concatenate({mx::zeros({1}, it, s), count}, 0, s), by_row[0], s);
  return {indptr, indices, mx::put_along_axis(zeros, order, pos, 0, s)};
}

// rows and cols checked and cast to one index dtype.
std::pair<array, array> coo_inputs(const array& rows, const array& cols, int64_t m, int64_t n,
                                   mx::Stream s) {
  if (rows.ndim() != 1 || cols.ndim() != 1 || rows.size() != cols.size()) {
    Message msg;
    msg << "[coo_tocsr] row and col must be 1-D arrays of one length but have shapes "
        << shape_str(rows.shape()) << " and " << shape_str(cols.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (m < 0 || n < 0) {
    throw std::invalid_argument("[coo_tocsr] the shape must be non-negative.");
  }
  dim("coo_tocsr", m + 1, "row pointers (m + 1)");
  // int32 only when both inputs are int32: never narrow an index silently
  auto it = rows.dtype() == mx::int32 && cols.dtype() == mx::int32 ? mx::int32 : mx::int64;
  return {cast(rows, it, s), cast(cols, it, s)};
}

} // namespace

std::vector<array> coo_tocsr(const array& rows, const array& cols, int64_t m, int64_t n,
                             bool sum_duplicates, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  auto [r, c] = coo_inputs(rows, cols, m, n, s);
  if (gpu_path(s)) {
    return composed(r, c, m, n, sum_duplicates, s);
  }
  return coo_tocsr_host(r, c, m, n, sum_duplicates, s);
}

std::vector<array> detail::coo_tocsr_composed(const array& rows, const array& cols, int64_t m,
                                              int64_t n, bool sum_duplicates, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  auto [r, c] = coo_inputs(rows, cols, m, n, s);
  return composed(r, c, m, n, sum_duplicates, s);
}

} // namespace mlx_sparse
