// GPU evaluation of spgemm: the numeric phase (csrc/cuda/kernels/spgemm.cu,
// metal/spgemm.metal) and the symbolic steps (spgemm_symbolic.cu / .metal; the host reads
// sizes between them, see ops.h).
#include "gpu/eval.h"
#include "gpu/eval_common.h"

namespace mlx_sparse::gpu {

void eval(Launch& l, const CsrSpgemm& p, const Inputs& in, array& out) {
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1;
  const int64_t b_rows = static_cast<int64_t>(in[3].size()) - 1;
  SpgemmArgs a{m, static_cast<int64_t>(in[1].size()), b_rows,
               static_cast<int64_t>(in[4].size()), static_cast<int64_t>(in[7].size()),
               p.n_cols_b_};
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  Accumulator acc(l, out);
  // short rows a warp each, then the entries of long rows a warp per kSpgemmEntries
  const int64_t groups = (a.a_nnz + kSpgemmEntries - 1) / kSpgemmEntries;
  for (const auto& [variant, threads] : {std::pair<const char*, int64_t>{"spgemm_row_warp", m * 32},
                                         {"spgemm_nnz_split", groups * 32}}) {
    l.kernel(kernel_name("csr_spgemm", variant, out.dtype(), in[0].dtype()), {blocks_for(threads)},
             {kBlock}, In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]}, In{in[4]}, In{in[5]},
             In{in[6]}, In{in[7]}, Out{acc.array()}, a);
  }
  acc.finish();
}

// offsets[i + 1] = row i's workspace slots, then scanned (offsets[0] = 0 from the kernel).
void eval(Launch& l, const CsrSpgemmWorkspace& p, const Inputs& in, array& out) {
  l.allocate(out);
  const SpgemmArgs a = spgemm_symbolic_args(in, p.n_cols_b_, 0);
  l.kernel("spgemm_workspace_" + index_name(in[0].dtype()), {blocks_for(a.m * 32)}, {kBlock},
           In{in[0]}, In{in[1]}, In{in[2]}, Out{out}, a);
  inclusive_scan(l, out, a.m + 1);
}

namespace {

// The workspace of the count and fill steps (in: a_indptr, a_indices, b_indptr, b_indices,
// offsets, ...), its accumulators cleared and those of long rows filled (spgemm_long_row).
array prepare_workspace(Launch& l, const Inputs& in, int64_t slots, const SpgemmArgs& a) {
  array workspace = l.temporary(slots, mx::uint32);
  if (slots > 0) {
    l.kernel("spgemm_clear", {blocks_for(a.m * 32)}, {kBlock}, In{in[4]}, Out{workspace}, a);
    l.kernel("spgemm_insert_long_" + index_name(in[0].dtype()), {blocks_for(a.a_nnz)}, {kBlock},
             In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]}, In{in[4]}, Out{workspace}, a);
  }
  return workspace;
}

} // namespace

// c_indptr[i + 1] = row i's distinct columns, then scanned (c_indptr[0] = 0 from the kernel).
void eval(Launch& l, const CsrSpgemmCount& p, const Inputs& in, array& out) {
  l.allocate(out);
  const SpgemmArgs a = spgemm_symbolic_args(in, p.n_cols_b_, 0);
  array workspace = prepare_workspace(l, in, p.slots_, a);
  l.kernel("spgemm_count_hash_" + index_name(in[0].dtype()), {blocks_for(a.m * 32, kSpgemmBlock)},
           {kSpgemmBlock}, In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]}, In{in[4]}, Out{workspace},
           Out{out}, a);
  inclusive_scan(l, out, a.m + 1);
}

void eval(Launch& l, const CsrSpgemmFill& p, const Inputs& in, array& out) {
  l.allocate(out);
  if (out.size() == 0) {
    return;
  }
  const SpgemmArgs a = spgemm_symbolic_args(in, p.n_cols_b_, p.nnz_);
  array workspace = prepare_workspace(l, in, p.slots_, a);
  l.kernel("spgemm_fill_hash_" + index_name(in[0].dtype()), {blocks_for(a.m * 32, kSpgemmBlock)},
           {kSpgemmBlock}, In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]}, In{in[4]}, Out{workspace},
           In{in[5]}, Out{out}, a);
}

} // namespace mlx_sparse::gpu
