// eval_gpu of spmv and spmm on CUDA (kernels in kernels/spmm.cu).
#include "cuda/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

using namespace cuda;

void eval_product(mx::Stream s, const char* op, bool vector, int64_t n_cols, bool transpose,
                  RowLengths lengths, const std::vector<array>& in, array& out) {
  Launch l(s);
  const auto &data = in[2], &b = in[3];
  const auto itype = in[0].dtype();
  auto [a, batch] = product_shape(vector, n_cols, transpose, in, out);
  const int64_t m = a.m, k = a.k;
  const unsigned nb = static_cast<unsigned>(batch);
  if (out.size() == 0) {
    l.allocate(out);
    return;
  }
  if (transpose && in.size() < 7) { // atomic scatter into out[col(e)]
    Accumulator acc(l, out);
    const std::string name = kernel_name(op, "spmm_scatter", out.dtype(), itype);
    l.kernel(name, {blocks_for(m * 32), nb}, {kBlock}, {in[0], in[1], data, b}, {acc.array()},
             Launch::ptr(in[0]), Launch::ptr(in[1]), Launch::ptr(data), Launch::ptr(b), acc.ptr(), a);
    acc.finish();
    return;
  }
  const array *indptr = &in[0], *indices = &in[1];
  void* perm = nullptr;
  std::vector<array> reads = {in[0], in[1], data, b};
  if (transpose) { // gather over A^T's structure, values through perm
    indptr = &in[4];
    indices = &in[5];
    perm = Launch::ptr(in[6]);
    a.m = n_cols;
    a.n = m;
    reads = {in[4], in[5], in[6], data, b};
  }
  const ProductPlan plan = product_plan(a, transpose ? lengths.max_col : lengths.max_row);
  if (plan.by_row) { // one kernel writes each output element once
    l.allocate(out);
    const std::string variant = k == 1 ? "spmv_row_group_l" + std::to_string(plan.lanes)
                                       : "spmm_row_warp_w" + std::to_string(plan.w);
    const Dims grid = k == 1 ? Dims{blocks_for(a.m * plan.lanes), nb}
                             : Dims{blocks_for(a.m * 32),
                                    static_cast<unsigned>((k + 32 * plan.w - 1) / (32 * plan.w)), nb};
    l.kernel(kernel_name(op, variant, out.dtype(), itype), grid, {kBlock}, reads, {out},
             Launch::ptr(*indptr), Launch::ptr(*indices), Launch::ptr(data), perm, Launch::ptr(b),
             Launch::ptr(out), a);
    return;
  }
  // the row each chunk of entries starts in (see chunk_rows in kernels/spmm.cu)
  auto product = [&](const std::string& name, Dims grid, int64_t chunk, const Accumulator& acc) {
    const int64_t chunks = (a.nnz + chunk - 1) / chunk;
    array table = l.temporary(chunks, itype);
    l.kernel("chunk_rows_" + index_name(itype), {stride_blocks(a.m)}, {kBlock}, {*indptr}, {table},
             Launch::ptr(*indptr), Launch::ptr(table), a.m, a.nnz, chunk);
    std::vector<array> all = reads;
    all.push_back(table);
    l.kernel(name, grid, {kBlock}, all, {acc.array()}, Launch::ptr(*indptr), Launch::ptr(*indices),
             Launch::ptr(data), perm, Launch::ptr(b), acc.ptr(), Launch::ptr(table), a);
  };
  Accumulator acc(l, out);
  if (k == 1) {
    const int64_t chunks = (a.nnz + 1023) / 1024; // kSpmvBlock * kSpmvPerThread in kernels/spmm.cu
    product(kernel_name(op, "spmv_nnz_split", out.dtype(), itype),
            {static_cast<unsigned>(chunks < 1 ? 1 : chunks), nb}, 1024, acc);
    acc.finish();
    return;
  }
  const int w = plan.w;
  const unsigned tiles = static_cast<unsigned>((k + 32 * w - 1) / (32 * w));
  const int64_t chunks = (a.nnz + 127) / 128; // kChunk in kernels/spmm.cu
  product(kernel_name(op, "spmm_nnz_split_w" + std::to_string(w), out.dtype(), itype),
          {blocks_for(chunks * 32), tiles, nb}, 128, acc);
  acc.finish();
}

} // namespace

void CsrSpmv::eval_gpu(const std::vector<array>& inputs, array& out) {
  eval_product(stream(), "csr_spmv", true, n_cols_, transpose_, lengths_, inputs, out);
}

void CsrSpmm::eval_gpu(const std::vector<array>& inputs, array& out) {
  eval_product(stream(), "csr_spmm", false, n_cols_, transpose_, lengths_, inputs, out);
}

} // namespace mlx_sparse
