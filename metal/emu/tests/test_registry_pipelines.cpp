// Whole pipelines by host name, as csrc/gpu/transpose_gpu.cpp and spgemm_gpu.cpp launch
// them: transpose (count, widen, scan, fill, sort, rows) and spgemm (workspace, clear,
// insert_long, count_hash, fill_hash, then the numeric kernels), against plain C++.
#include <map>

#include "gpu/core/params.h"
#include "gpu/core/spgemm.h"
#include "run.h"

using namespace ms_emu_test;
using mlx_sparse::gpu::EntryArgs;
using mlx_sparse::gpu::SpgemmArgs;
using Order = ms_emu::Order;

template <typename V>
static std::vector<float> floats(const V& v) {
  return std::vector<float>(v.begin(), v.end());
}

// A^T's indptr, indices and the stable permutation, for A with one column out of range.
template <typename I>
static void test_transpose(const Csr& s, Order order) {
  const std::string it = index_name<I>();
  const int64_t nnz = int64_t(s.cols.size()), n = s.n, count = n + 1;
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz / 3] = I(n); // not in A^T: after its last row in perm, index 0
  std::vector<int64_t> want_ptr(static_cast<size_t>(count)), want_perm, want_idx;
  std::vector<std::vector<int64_t>> by_col(static_cast<size_t>(count));
  for (int64_t r = 0; r < s.m; ++r) {
    for (int64_t e = s.indptr[r]; e < s.indptr[r + 1]; ++e) {
      by_col[size_t(cols[e])].push_back(e);
    }
  }
  for (int64_t c = 0; c <= n; ++c) {
    for (int64_t e : by_col[c]) {
      want_perm.push_back(e);
      want_idx.push_back(c < n ? std::upper_bound(s.indptr.begin(), s.indptr.end(), e) -
                                     s.indptr.begin() - 1
                               : 0);
    }
    if (c < n) {
      want_ptr[c + 1] = want_ptr[c] + int64_t(by_col[c].size());
    }
  }
  const EntryArgs a{s.m, n, nnz, count, 0, 1};
  std::vector<uint> counts(size_t(count), 7u), cursor(size_t(count), 7u);
  std::vector<I> indptr_t(static_cast<size_t>(count)), perm(static_cast<size_t>(nnz));
  std::vector<I> indices_t(static_cast<size_t>(nnz));
  run("fill_zero_uint32", {blocks(count)}, {kThreads}, {buf(counts), bytes(count)}, order);
  run("transpose_count_" + it, {2}, {kThreads}, {buf(indptr), buf(cols), buf(counts), bytes(a)},
      order);
  run("widen_uint32_" + it, {blocks(count)}, {kThreads},
      {buf(counts), buf(indptr_t), bytes(count)}, order);
  inclusive_scan(indptr_t, count, order);
  run("fill_zero_uint32", {blocks(count)}, {kThreads}, {buf(cursor), bytes(count)}, order);
  run("transpose_fill_" + it, {2}, {kThreads},
      {buf(indptr), buf(cols), buf(indptr_t), buf(cursor), buf(perm), bytes(a)}, order);
  run("transpose_sort_" + it, {blocks(count * 32)}, {kThreads},
      {buf(indptr_t), buf(perm), bytes(a)}, order);
  run("transpose_rows_" + it, {2}, {kThreads},
      {buf(indptr), buf(indptr_t), buf(perm), buf(indices_t), bytes(a)}, order);
  const std::string what = "transpose_" + it + " n=" + std::to_string(n);
  check_all(floats(indptr_t), floats(want_ptr), 0.0f, what + " indptr_t");
  check_all(floats(perm), floats(want_perm), 0.0f, what + " perm");
  check_all(floats(indices_t), floats(want_idx), 0.0f, what + " indices_t");
}

// C = A @ B: C's canonical pattern (sorted, distinct columns) and values.
template <typename T, typename I>
static void test_spgemm(const Csr& as, const Csr& bs, bool workspace_rows, Order order) {
  const std::string it = index_name<I>(), types = std::string(value_name<T>()) + "_" + it;
  const int64_t m = as.m, a_nnz = int64_t(as.cols.size()), b_nnz = int64_t(bs.cols.size());
  std::vector<I> a_ptr(as.indptr.begin(), as.indptr.end()), a_cols(as.cols.begin(), as.cols.end());
  std::vector<I> b_ptr(bs.indptr.begin(), bs.indptr.end()), b_cols(bs.cols.begin(), bs.cols.end());
  a_cols[0] = I(bs.m);         // no row of B: skipped
  b_cols[b_nnz / 2] = I(bs.n); // no column of C: skipped
  const auto a_vals = convert<T>(random_values(size_t(a_nnz), 21));
  const auto b_vals = convert<T>(random_values(size_t(b_nnz), 22));
  std::vector<float> want_ptr{0.0f}, want_cols, want_vals;
  for (int64_t r = 0; r < m; ++r) {
    std::map<int64_t, float> row;
    for (int64_t p = as.indptr[r]; p < as.indptr[r + 1]; ++p) {
      const int64_t j = a_cols[p];
      for (int64_t e = j < bs.m ? bs.indptr[j] : 0; j < bs.m && e < bs.indptr[j + 1]; ++e) {
        if (b_cols[e] < bs.n) {
          row[b_cols[e]] += float(a_vals[p]) * float(b_vals[e]);
        }
      }
    }
    for (const auto& [c, v] : row) {
      want_cols.push_back(float(c));
      want_vals.push_back(v);
    }
    want_ptr.push_back(float(want_cols.size()));
  }
  SpgemmArgs a{m, a_nnz, bs.m, b_nnz, 0, bs.n};
  std::vector<int64_t> offsets(size_t(m + 1), -1), c_ptr(size_t(m + 1), -1);
  run("spgemm_workspace_" + it, {blocks(m * 32)}, {kThreads},
      {buf(a_ptr), buf(a_cols), buf(b_ptr), buf(offsets), bytes(a)}, order);
  inclusive_scan(offsets, m + 1, order);
  std::vector<uint> workspace(size_t(std::max<int64_t>(offsets[m], 1)));
  auto prepare = [&] { // clears the workspace, fills its long rows
    if (offsets[m] > 0) {
      run("spgemm_clear", {blocks(m * 32)}, {kThreads}, {buf(offsets), buf(workspace), bytes(a)},
          order);
      run("spgemm_insert_long_" + it, {blocks(a_nnz)}, {kThreads},
          {buf(a_ptr), buf(a_cols), buf(b_ptr), buf(b_cols), buf(offsets), buf(workspace),
           bytes(a)}, order);
    }
  };
  const uint32_t block = mlx_sparse::gpu::kSpgemmWarps * 32;
  prepare();
  run("spgemm_count_hash_" + it, {blocks(m * 32, block)}, {block},
      {buf(a_ptr), buf(a_cols), buf(b_ptr), buf(b_cols), buf(offsets), buf(workspace), buf(c_ptr),
       bytes(a)}, order);
  inclusive_scan(c_ptr, m + 1, order);
  const std::string what = "spgemm " + types + " workspace=" + std::to_string(offsets[m]);
  check((offsets[m] > 0) == workspace_rows, what + ": workspace rows as planned");
  check_all(floats(c_ptr), want_ptr, 0.0f, what + " indptr");
  if (c_ptr[m] != int64_t(want_cols.size())) {
    return;
  }
  a.c_nnz = c_ptr[m];
  std::vector<I> c_cols(size_t(a.c_nnz));
  prepare();
  run("spgemm_fill_hash_" + it, {blocks(m * 32, block)}, {block},
      {buf(a_ptr), buf(a_cols), buf(b_ptr), buf(b_cols), buf(offsets), buf(workspace), buf(c_ptr),
       buf(c_cols), bytes(a)}, order);
  check_all(floats(c_cols), want_cols, 0.0f, what + " columns");
  std::vector<I> c_ptr_i(c_ptr.begin(), c_ptr.end());
  std::vector<float> acc(size_t(a.c_nnz));
  const int64_t split_threads = (a_nnz + mlx_sparse::gpu::kSpgemmEntries - 1) /
                                mlx_sparse::gpu::kSpgemmEntries * 32;
  using Variant = std::pair<std::string, int64_t>; // name and threads, as the host launches
  for (const auto& [variant, threads] :
       {Variant{"spgemm_row_warp_", m * 32}, Variant{"spgemm_nnz_split_", split_threads}}) {
    run(variant + types, {blocks(threads)}, {kThreads},
        {buf(a_ptr), buf(a_cols), buf(a_vals), buf(b_ptr), buf(b_cols),
         buf(b_vals), buf(c_ptr_i), buf(c_cols), buf(acc), bytes(a)}, order);
  }
  check_all(acc, want_vals, tolerance<T>(), what + " values");
}

// Rows of A of the given lengths over B's rows (random columns, duplicates included).
static Csr rows_of(const std::vector<int64_t>& lengths, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Csr s{int64_t(lengths.size()), n, {0}, {}};
  for (int64_t len : lengths) {
    for (int64_t j = 0; j < len; ++j) {
      s.cols.push_back(int64_t(rng() % uint64_t(n)));
    }
    s.indptr.push_back(int64_t(s.cols.size()));
  }
  return s;
}

void test_pipelines(Order order) {
  test_transpose<int32_t>(random_csr(13, 9, 75, 31), order);
  test_transpose<int64_t>(random_csr(40, 1500, 200, 32), order); // a scan of two blocks
  // small rows: tables and bitmaps in threadgroup memory
  test_spgemm<float, int32_t>(random_csr(13, 9, 75, 33), random_csr(9, 11, 20, 34), false, order);
  test_spgemm<half, int64_t>(random_csr(13, 40, 75, 35), random_csr(40, 300, 8, 36), false, order);
  // wide C: workspace bitmaps and tables, long rows inserted by spgemm_insert_long
  const Csr b = rows_of(std::vector<int64_t>(300, 5), 100000, 37);
  test_spgemm<bfloat, int64_t>(rows_of({2, 0, 150, 300, 5, 40}, 300, 38), b, true, order);
}
