// eval_gpu of transpose on CUDA: count, scan, fill, sort, rows (kernels/transpose.cu).
#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace cuda;

void CsrTranspose::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  Launch l(stream());
  for (auto& o : outs) {
    l.allocate(o);
  }
  const auto &indptr = in[0], &indices = in[1];
  auto &indptr_t = outs[0], &indices_t = outs[1], &perm = outs[2];
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1, nnz = indices.size(), n = n_cols_;
  const std::string it = index_name(indptr.dtype());
  const EntryArgs a{m, n, nnz, n + 1, 0, 1};
  auto p = [](const array& x) { return Launch::ptr(x); };
  // counts[c + 1] = entries in column c, then their inclusive scan: indptr_t
  l.kernel("fill_zero_" + it, {stride_blocks(n + 1)}, {kBlock}, {}, {indptr_t}, p(indptr_t), n + 1);
  l.kernel("transpose_count_" + it, {stride_blocks(nnz)}, {kBlock}, {indptr, indices},
           {indptr_t}, p(indptr), p(indices), p(indptr_t), a);
  inclusive_scan(l, indptr_t, n + 1);
  if (nnz == 0) {
    return;
  }
  // perm: entries placed by atomic cursors per column (cursor n: the entries not in A^T,
  // after its last row), then each segment sorted (stable)
  array cursor = l.temporary(n + 1, indptr.dtype());
  l.kernel("fill_zero_" + it, {stride_blocks(n + 1)}, {kBlock}, {}, {cursor}, p(cursor), n + 1);
  l.kernel("transpose_fill_" + it, {stride_blocks(nnz)}, {kBlock},
           {indptr, indices, indptr_t, cursor}, {cursor, perm}, p(indptr), p(indices),
           p(indptr_t), p(cursor), p(perm), a);
  l.kernel("transpose_sort_" + it, {blocks_for((n + 1) * 32)}, {kBlock}, {indptr_t}, {perm},
           p(indptr_t), p(perm), a);
  l.kernel("transpose_rows_" + it, {stride_blocks(nnz)}, {kBlock}, {indptr, indptr_t, perm},
           {indices_t}, p(indptr), p(indptr_t), p(perm), p(indices_t), a);
}

} // namespace mlx_sparse
