// The kernel registry (registry.h): every Metal host name is registered, errors name the
// kernel, and kernels of every family run by host name with their buffers in [[buffer(i)]]
// order against plain C++ (products and per-entry kernels here; transpose and spgemm, whole
// pipelines, in test_registry_pipelines.cpp). Usage: test_registry HOST_NAMES_FILE
#include <fstream>
#include <set>
#include <thread>

#include "gpu/core/params.h"
#include "run.h"

using namespace ms_emu_test;
using mlx_sparse::gpu::EntryArgs;
using mlx_sparse::gpu::ProductArgs;
using Order = ms_emu::Order;

void test_pipelines(Order order); // test_registry_pipelines.cpp

// Every name scripts/metal_emulator_tests.sh listed (MS_LIST_HOST_NAMES) is registered, and
// nothing else.
static void test_names(const char* path) {
  std::ifstream in(path);
  std::set<std::string> listed;
  for (std::string name; in >> name;) {
    listed.insert(name);
  }
  check(listed.size() > 100, "host names read from " + std::string(path));
  for (const auto& name : listed) {
    check(ms_emu::has_kernel(name), "host name " + name + " is not registered");
  }
  for (const auto& name : ms_emu::kernel_names()) {
    check(listed.count(name) == 1, "registered kernel " + name + " is not a Metal host name");
  }
}

static void expect_error(const std::string& name, std::vector<void*> args,
                         const std::string& want) {
  try {
    run(name, {1}, {32}, args);
    check(false, name + ": ran without an error");
  } catch (const ms_emu::Error& e) {
    const std::string msg = e.what();
    check(msg.find(want) != std::string::npos, "'" + want + "' not in: " + msg);
  }
}

static void test_errors() {
  std::vector<float> v(4);
  expect_error("spmm_row_warp_w3_float32_int32", {},
               "no kernel named 'spmm_row_warp_w3_float32_int32'");
  expect_error("fill_zero_float32", {buf(v)},
               "kernel 'fill_zero_float32' reads buffers 0 to 1 but 1");
}

// out[b, r, j] = sum over row r's entries p (column in range) of value(b, p) * B[b, col, j].
template <typename T, typename I, typename Value>
static std::vector<float> product(const Csr& s, const std::vector<I>& cols, Value value,
                                  const std::vector<T>& bm, int64_t k, int64_t batch) {
  std::vector<float> want(size_t(batch * s.m * k));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < s.m; ++r) {
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        for (int64_t j = 0; cols[p] < s.n && j < k; ++j) {
          want[(b * s.m + r) * k + j] += value(b, p) * float(bm[(b * s.n + cols[p]) * k + j]);
        }
      }
    }
  }
  return want;
}

// spmv_row_group_l{L}, spmm_row_warp_w{W}, spmv_nnz_split and spmm_nnz_split_w{W} (after
// chunk_rows), spmm_scatter: grids as csrc/gpu/spmm_gpu.cpp launches them.
template <typename T, typename I>
static void test_products(Order order) {
  const std::string types = std::string(value_name<T>()) + "_" + index_name<I>();
  const Csr s = random_csr(29, 11, 300, 9); // 29 rows: row 1 empty, row 3 of 300 entries
  const int64_t nnz = int64_t(s.cols.size()), batch = 2, k = 70;
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz / 2] = I(s.n); // out of range: skipped
  std::vector<I> perm(static_cast<size_t>(nnz));
  for (int64_t p = 0; p < nnz; ++p) {
    perm[p] = I(nnz - 1 - p);
  }
  auto vals = convert<T>(random_values(size_t(batch * nnz), 11));
  auto bm = convert<T>(random_values(size_t(batch * s.n * k), 12));
  auto x = convert<T>(random_values(size_t(batch * s.n), 17));
  auto value = [&](int64_t b, int64_t p) { return float(vals[b * nnz + p]); };
  auto through_perm = [&](int64_t b, int64_t p) { return float(vals[b * nnz + perm[p]]); };
  const int no_perm = 0, use_perm = 1;
  const float tol = tolerance<T>();

  const ProductArgs v{s.m, s.n, nnz, 1, s.m, nnz, s.n, s.m};
  for (int L : {1, 2, 4, 8, 16, 32}) {
    const std::string name = "spmv_row_group_l" + std::to_string(L) + "_" + types;
    std::vector<T> y(size_t(batch * s.m));
    run(name, {blocks(s.m * L), uint32_t(batch)}, {kThreads},
        {buf(indptr), buf(cols), buf(vals), buf(perm), buf(x), buf(y), bytes(v), bytes(use_perm)},
        order);
    check_all(convert<float>(y), product<T>(s, cols, through_perm, x, 1, batch), tol, name);
  }
  const ProductArgs a{s.m, s.n, nnz, k, s.m, nnz, s.n * k, s.m * k};
  const auto want = product<T>(s, cols, value, bm, k, batch);
  for (int W : {1, 2, 4}) {
    const std::string w = "_w" + std::to_string(W) + "_" + types;
    const uint32_t tiles = blocks(k, 32 * W);
    std::vector<T> out(size_t(batch * s.m * k));
    run("spmm_row_warp" + w, {blocks(s.m * 32), tiles, uint32_t(batch)}, {kThreads},
        {buf(indptr), buf(cols), buf(vals), buf(cols), buf(bm), buf(out), bytes(a), bytes(no_perm)},
        order);
    check_all(convert<float>(out), want, tol, "spmm_row_warp" + w);
    const int64_t chunk = 128, chunks = (nnz + chunk - 1) / chunk;
    std::vector<I> table(static_cast<size_t>(chunks));
    run(std::string("chunk_rows_") + index_name<I>(), {blocks(chunks)}, {kThreads},
        {buf(indptr), buf(table), bytes(s.m), bytes(nnz), bytes(chunk)}, order);
    std::vector<float> acc(size_t(batch * s.m * k));
    run("spmm_nnz_split" + w, {blocks(chunks * 32), tiles, uint32_t(batch)}, {kThreads},
        {buf(indptr), buf(cols), buf(vals), buf(cols), buf(bm), buf(acc), buf(table), bytes(a),
         bytes(no_perm)}, order);
    check_all(acc, want, tol, "spmm_nnz_split" + w);
  }
  { // spmv_nnz_split: chunks of 1024 entries
    const int64_t chunk = 1024, chunks = (nnz + chunk - 1) / chunk;
    std::vector<I> table(static_cast<size_t>(chunks));
    run(std::string("chunk_rows_") + index_name<I>(), {1}, {kThreads},
        {buf(indptr), buf(table), bytes(s.m), bytes(nnz), bytes(chunk)}, order);
    std::vector<float> y(size_t(batch * s.m));
    run("spmv_nnz_split_" + types, {uint32_t(chunks), uint32_t(batch)}, {kThreads},
        {buf(indptr), buf(cols), buf(vals), buf(cols), buf(x), buf(y), buf(table), bytes(v),
         bytes(no_perm)}, order);
    check_all(y, product<T>(s, cols, value, x, 1, batch), tol, "spmv_nnz_split_" + types);
  }
  { // spmm_scatter: out[b, c, j] += A[r, c] * B[b, r, j] (A^T @ B), B with s.m rows
    auto bt = convert<T>(random_values(size_t(batch * s.m * 3), 13));
    const ProductArgs t{s.m, s.n, nnz, 3, s.n, nnz, s.m * 3, s.n * 3};
    std::vector<float> out(size_t(batch * s.n * 3)), ref(out.size());
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t r = 0; r < s.m; ++r) {
        for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
          for (int64_t j = 0; cols[p] < s.n && j < 3; ++j) {
            ref[(b * s.n + cols[p]) * 3 + j] += value(b, p) * float(bt[(b * s.m + r) * 3 + j]);
          }
        }
      }
    }
    run("spmm_scatter_" + types, {blocks(s.m * 32), uint32_t(batch)}, {kThreads},
        {buf(indptr), buf(cols), buf(vals), buf(bt), buf(out), bytes(t)}, order);
    check_all(out, ref, tol, "spmm_scatter_" + types);
  }
}

// entries.metal's three kernels, fill.metal's, sddmm and softmax: one run each by name.
template <typename T, typename I>
static void test_entries(Order order) {
  const std::string types = std::string(value_name<T>()) + "_" + index_name<I>();
  const Csr s = random_csr(13, 9, 75, 6);
  const int64_t nnz = int64_t(s.cols.size()), count = 20, batch = 2;
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), slot(s.cols.begin(), s.cols.end());
  slot[3] = I(count); // out of range: adds nothing
  auto data = convert<T>(random_values(size_t(batch * nnz), 14));
  std::vector<float> acc(size_t(batch * count)), want(acc.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t e = 0; e < nnz; ++e) {
      if (slot[e] < count) {
        want[b * count + slot[e]] += float(data[b * nnz + e]);
      }
    }
  }
  const EntryArgs a{s.m, s.n, nnz, count, nnz, batch};
  run("sum_duplicates_scatter_" + types, {2, uint32_t(batch)}, {kThreads},
      {buf(slot), buf(data), buf(acc), bytes(a)}, order);
  check_all(acc, want, 1e-5f, "sum_duplicates_scatter_" + types);

  std::vector<I> rows(static_cast<size_t>(nnz));
  run(std::string("rows_search_") + index_name<I>(), {2}, {kThreads},
      {buf(indptr), buf(rows), bytes(a)}, order);
  std::vector<float> got_rows(rows.begin(), rows.end()), want_rows(static_cast<size_t>(nnz));
  for (int64_t r = 0; r < s.m; ++r) {
    std::fill(want_rows.begin() + s.indptr[r], want_rows.begin() + s.indptr[r + 1], float(r));
  }
  check_all(got_rows, want_rows, 0.0f, std::string("rows_search_") + index_name<I>());

  std::vector<uint> zeros(5, 7u); // transpose's counts: uint32 on Metal
  const int64_t five = 5;
  run("fill_zero_uint32", {1}, {kThreads}, {buf(zeros), bytes(five)}, order);
  check_all(convert<float>(zeros), std::vector<float>(5), 0.0f, "fill_zero_uint32");
  std::vector<uint> wide{1, 2, 3, 4, 4000000000u};
  std::vector<I> widened(5);
  run(std::string("widen_uint32_") + index_name<I>(), {1}, {kThreads},
      {buf(wide), buf(widened), bytes(five)}, order);
  check(sizeof(I) == 4 || int64_t(widened[4]) == 4000000000, "widen_uint32 to int64");
  if constexpr (sizeof(T) == 2) {
    std::vector<T> narrow(acc.size());
    const int64_t all = batch * count;
    run(std::string("from_float32_") + value_name<T>(), {1}, {kThreads},
        {buf(acc), buf(narrow), bytes(all)}, order);
    check_all(convert<float>(narrow), acc, 1e-2f, std::string("from_float32_") + value_name<T>());
  }
}

// sddmm and softmax by name (test_kernels.cpp checks them in depth): the names reach them.
static void test_sddmm_softmax(Order order) {
  const Csr s = random_csr(13, 9, 75, 7);
  const int64_t nnz = int64_t(s.cols.size()), k = 6;
  std::vector<int32_t> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  const auto g = random_values(size_t(s.m * k), 15), bm = random_values(size_t(s.n * k), 16);
  std::vector<float> out(static_cast<size_t>(nnz)), want(out.size());
  for (int64_t r = 0; r < s.m; ++r) {
    for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
      for (int64_t j = 0; j < k; ++j) {
        want[p] += g[r * k + j] * bm[cols[p] * k + j];
      }
    }
  }
  const mlx_sparse::gpu::SddmmArgs sa{s.m, s.n, nnz, k, s.m * k, s.n * k, 1, 2};
  run("sddmm_entry_group_float32_int32", {blocks(nnz * 2)}, {kThreads},
      {buf(indptr), buf(cols), buf(g), buf(bm), buf(out), bytes(sa)}, order);
  check_all(out, want, 1e-5f, "sddmm_entry_group_float32_int32");
  std::vector<float> soft(static_cast<size_t>(nnz));
  const EntryArgs ea{s.m, s.n, nnz, nnz, nnz, 1};
  run("softmax_row_warp_float32_int32", {blocks(s.m * 32)}, {kThreads},
      {buf(indptr), buf(cols), buf(out), buf(soft), bytes(ea)}, order);
  float total = 0.0f, rows = 0.0f;
  for (int64_t r = 0; r < s.m; ++r) {
    rows += s.indptr[r + 1] > s.indptr[r] ? 1.0f : 0.0f;
  }
  for (float x : soft) {
    total += x;
  }
  check(std::fabs(total - rows) < 1e-4f, "softmax_row_warp: each row that has entries sums to 1");
}

// Runs from several OS threads are serialised, and fibers resume on whichever thread runs them.
static void test_threads() {
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([i] {
      try {
        for (int r = 0; r < 2; ++r) {
          test_sddmm_softmax(i % 2 ? Order::forward : Order::reverse);
        }
      } catch (const ms_emu::Error& e) {
        check(false, std::string("ERROR ") + e.what());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
}

template <typename T, typename I>
static void test_types(Order order) {
  test_products<T, I>(order);
  test_entries<T, I>(order);
}

int main(int argc, char** argv) {
  try {
    check(argc == 2, "usage: test_registry HOST_NAMES_FILE");
    if (argc == 2) {
      test_names(argv[1]);
    }
    test_errors();
    for (auto order : {Order::forward, Order::reverse}) {
      test_types<float, int32_t>(order);
      test_sddmm_softmax(order);
      test_pipelines(order);
    }
    test_threads();
    test_types<float, int64_t>(Order::forward);
    test_types<half, int32_t>(Order::reverse);
    test_types<half, int64_t>(Order::forward);
    test_types<bfloat, int32_t>(Order::reverse);
    test_types<bfloat, int64_t>(Order::forward);
  } catch (const ms_emu::Error& e) { // a run the emulator stopped: the test fails
    check(false, std::string("ERROR ") + e.what());
  }
  std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
