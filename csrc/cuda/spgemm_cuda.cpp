// eval_gpu of spgemm on CUDA: the numeric phase (kernels/spgemm.cu) and the symbolic
// steps (kernels/spgemm_symbolic.cu; the host reads sizes between them, see ops.h).
#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

using namespace cuda;

void CsrSpgemm::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1;
  const int64_t b_rows = static_cast<int64_t>(in[3].size()) - 1;
  gpu::SpgemmArgs a{m, static_cast<int64_t>(in[1].size()), b_rows,
                    static_cast<int64_t>(in[4].size()), static_cast<int64_t>(in[7].size()),
                    n_cols_b_};
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  // short rows a warp each, then the entries of long rows a warp per kSpgemmEntries
  const int64_t groups = (a.a_nnz + gpu::kSpgemmEntries - 1) / gpu::kSpgemmEntries;
  for (const auto& [variant, threads] : {std::pair<const char*, int64_t>{"spgemm_row_warp", m * 32},
                                         {"spgemm_nnz_split", groups * 32}}) {
    l.kernel(kernel_name("csr_spgemm", variant, out.dtype(), in[0].dtype()), {blocks_for(threads)},
             {kBlock}, in, {acc.array()}, Launch::ptr(in[0]), Launch::ptr(in[1]),
             Launch::ptr(in[2]), Launch::ptr(in[3]), Launch::ptr(in[4]), Launch::ptr(in[5]),
             Launch::ptr(in[6]), Launch::ptr(in[7]), acc.ptr(), a);
  }
  acc.finish();
}

// offsets[i + 1] = row i's workspace slots, then scanned (offsets[0] = 0 from the kernel).
void CsrSpgemmWorkspace::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  const SpgemmArgs a = spgemm_symbolic_args(in, n_cols_b_, 0);
  l.kernel("spgemm_workspace_" + index_name(in[0].dtype()), {blocks_for(a.m * 32)}, {kBlock}, in,
           {out}, Launch::ptr(in[0]), Launch::ptr(in[1]), Launch::ptr(in[2]), Launch::ptr(out), a);
  inclusive_scan(l, out, a.m + 1);
}

namespace {

// The workspace of the count and fill steps (in: a_indptr, a_indices, b_indptr, b_indices,
// offsets, ...), its accumulators cleared and those of long rows filled (spgemm_long_row).
array prepare_workspace(Launch& l, const std::vector<array>& in, int64_t slots,
                        const SpgemmArgs& a) {
  array workspace = l.temporary(slots, mx::uint32);
  if (slots > 0) {
    l.kernel("spgemm_clear", {blocks_for(a.m * 32)}, {kBlock}, {in[4]}, {workspace},
             Launch::ptr(in[4]), Launch::ptr(workspace), a);
    l.kernel("spgemm_insert_long_" + index_name(in[0].dtype()), {blocks_for(a.a_nnz)}, {kBlock},
             {in[0], in[1], in[2], in[3], in[4]}, {workspace}, Launch::ptr(in[0]),
             Launch::ptr(in[1]), Launch::ptr(in[2]), Launch::ptr(in[3]), Launch::ptr(in[4]),
             Launch::ptr(workspace), a);
  }
  return workspace;
}

} // namespace

// c_indptr[i + 1] = row i's distinct columns, then scanned (c_indptr[0] = 0 from the kernel).
void CsrSpgemmCount::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  const SpgemmArgs a = spgemm_symbolic_args(in, n_cols_b_, 0);
  array workspace = prepare_workspace(l, in, slots_, a);
  l.kernel("spgemm_count_hash_" + index_name(in[0].dtype()), {blocks_for(a.m * 32, kSpgemmBlock)},
           {kSpgemmBlock}, in, {out, workspace}, Launch::ptr(in[0]), Launch::ptr(in[1]),
           Launch::ptr(in[2]), Launch::ptr(in[3]), Launch::ptr(in[4]), Launch::ptr(workspace),
           Launch::ptr(out), a);
  inclusive_scan(l, out, a.m + 1);
}

void CsrSpgemmFill::eval_gpu(const std::vector<array>& in, array& out) {
  Launch l(stream());
  l.allocate(out);
  if (out.size() == 0) {
    return;
  }
  const SpgemmArgs a = spgemm_symbolic_args(in, n_cols_b_, nnz_);
  array workspace = prepare_workspace(l, in, slots_, a);
  l.kernel("spgemm_fill_hash_" + index_name(in[0].dtype()), {blocks_for(a.m * 32, kSpgemmBlock)},
           {kSpgemmBlock}, in, {out, workspace}, Launch::ptr(in[0]), Launch::ptr(in[1]),
           Launch::ptr(in[2]), Launch::ptr(in[3]), Launch::ptr(in[4]), Launch::ptr(workspace),
           Launch::ptr(in[5]), Launch::ptr(out), a);
}

} // namespace mlx_sparse
