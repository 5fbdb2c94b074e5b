// GPU evaluation of transpose: count, scan, fill, sort, rows (csrc/cuda/kernels/transpose.cu,
// metal/transpose.metal). Metal has no 64-bit atomics: its counts and cursors are uint32,
// widened into the index type, so a matrix is limited to nnz < 2^32 there.
#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

void eval(Launch& l, const CsrTranspose& p, const Inputs& in, std::vector<array>& outs) {
  for (auto& o : outs) {
    l.allocate(o);
  }
  const auto &indptr = in[0], &indices = in[1];
  auto &indptr_t = outs[0], &indices_t = outs[1], &perm = outs[2];
  const int64_t m = static_cast<int64_t>(indptr.size()) - 1, nnz = indices.size(), n = p.n_cols_;
  const bool narrow = !l.atomics64();
  if (narrow && nnz >= (int64_t(1) << 32)) {
    throw std::invalid_argument("[csr_transpose] the Metal kernels count in 32 bits: nnz must "
                                "be below 2^32 (use the CPU).");
  }
  const std::string it = index_name(indptr.dtype());
  const mx::Dtype ctype = narrow ? mx::uint32 : indptr.dtype();
  const std::string ct = narrow ? "uint32" : it;
  const EntryArgs a{m, n, nnz, n + 1, 0, 1};
  // counts[c + 1] = entries in column c (in indptr_t itself unless narrow), then scanned
  const int64_t count = n + 1;
  array counts = narrow ? l.temporary(count, ctype) : indptr_t;
  l.kernel("fill_zero_" + ct, {stride_blocks(count)}, {kBlock}, Out{counts}, count);
  l.kernel("transpose_count_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indices},
           Out{counts}, a);
  if (narrow) {
    l.kernel("widen_uint32_" + it, {stride_blocks(count)}, {kBlock}, In{counts}, Out{indptr_t},
             count);
  }
  inclusive_scan(l, indptr_t, count);
  if (nnz == 0) {
    return;
  }
  // perm: entries placed by atomic cursors per column (cursor n: the entries not in A^T,
  // after its last row), then each segment sorted (stable)
  array cursor = l.temporary(count, ctype);
  l.kernel("fill_zero_" + ct, {stride_blocks(count)}, {kBlock}, Out{cursor}, count);
  l.kernel("transpose_fill_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indices},
           In{indptr_t}, Out{cursor}, Out{perm}, a);
  l.kernel("transpose_sort_" + it, {blocks_for(count * 32)}, {kBlock}, In{indptr_t}, Out{perm},
           a);
  l.kernel("transpose_rows_" + it, {stride_blocks(nnz)}, {kBlock}, In{indptr}, In{indptr_t},
           In{perm}, Out{indices_t}, a);
}

} // namespace mlx_sparse::gpu
