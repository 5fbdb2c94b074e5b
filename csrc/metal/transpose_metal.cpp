// eval_gpu of transpose on Metal: count, widen, scan, fill, sort, rows (metal/transpose.metal).
// Counts and cursors are uint32 atomics (Metal has none of 64 bits): a column holds at most
// 2^32 - 1 entries, so the whole matrix is limited to nnz < 2^32 here.
#include "metal/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace metal;

void CsrTranspose::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  Launch l(stream());
  for (auto& o : outs) {
    l.allocate(o);
  }
  const auto &indptr = in[0], &indices = in[1];
  auto &indptr_t = outs[0], &indices_t = outs[1], &perm = outs[2];
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1, nnz = indices.size(), n = n_cols_;
  if (nnz >= (int64_t(1) << 32)) {
    throw std::invalid_argument("[csr_transpose] the Metal kernels count in 32 bits: nnz must "
                                "be below 2^32 (use the CPU).");
  }
  const std::string it = index_name(indptr.dtype());
  const EntryArgs a{m, n, nnz, n + 1, 0, 1};
  // counts[c + 1] = entries in column c (uint32), widened into indptr_t, then scanned
  const int64_t count = n + 1;
  array counts = l.temporary(count, mx::uint32);
  l.kernel("fill_zero_uint32", {stride_blocks(count)}, {kBlock}, Out{counts}, count);
  l.kernel("transpose_count_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indices},
           Out{counts}, a);
  l.kernel("widen_uint32_" + it, {stride_blocks(count)}, {kBlock}, In{counts}, Out{indptr_t},
           count);
  inclusive_scan(l, indptr_t, count);
  if (nnz == 0) {
    return;
  }
  // perm: entries placed by atomic cursors per column (cursor n: the entries not in A^T,
  // after its last row), then each segment sorted (stable)
  array cursor = l.temporary(n + 1, mx::uint32);
  l.kernel("fill_zero_uint32", {stride_blocks(n + 1)}, {kBlock}, Out{cursor}, n + 1);
  l.kernel("transpose_fill_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indices},
           In{indptr_t}, Out{cursor}, Out{perm}, a);
  l.kernel("transpose_sort_" + it, {blocks_for((n + 1) * 32)}, {kBlock}, In{indptr_t}, Out{perm},
           a);
  l.kernel("transpose_rows_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indptr_t},
           In{perm}, Out{indices_t}, a);
}

} // namespace mlx_sparse
