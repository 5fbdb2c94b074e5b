// Real kernels run on the emulator: metal/sddmm.metal, metal/softmax.metal, entries.metal's
// todense_scatter and spmm.metal's spmv_nnz_split (with chunk_rows), compiled as C++, launched as their hosts launch them (csrc/metal/) and
// checked against plain C++ on odd shapes with empty rows, a long row, duplicates, unsorted
// and out-of-range columns, every value type and both index types, both thread orders; and
// flash_attention.metal's four kernels (forward, delta, dq, dk/dv on simdgroup_matrix) against
// block-sparse attention and its gradients in double.
#include "entries.metal"
#include "flash_attention.metal"
#include "sddmm.metal"
#include "softmax.metal"
#include "spmm.metal"

#include "kernels_end.h"

#include "check.h"

using ms_emu::ThreadPos;
using namespace ms_emu_test;

constexpr uint32_t kThreads = 256; // kBlock in csrc/gpu/host.h

static uint32_t blocks_for(int64_t threads) {
  return uint32_t(std::max<int64_t>(1, (threads + kThreads - 1) / kThreads));
}

// Element by element, through float (half and bfloat16 convert from float explicitly).
template <typename To, typename From>
static std::vector<To> convert(const std::vector<From>& v) {
  std::vector<To> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = static_cast<To>(static_cast<float>(v[i]));
  }
  return out;
}

// sddmm: out[b, e] = <G[b, row(e)], B[b, col(e)]>, 0 for a column out of range.
template <typename T, typename I>
static void test_sddmm(const Csr& s, int64_t k, int64_t lanes, int64_t batch, ms_emu::Order order,
                       const std::string& types) {
  const int64_t nnz = int64_t(s.cols.size());
  const auto g = convert<T>(random_values(size_t(batch * s.m * k), 1));
  const auto bm = convert<T>(random_values(size_t(batch * s.n * k), 2));
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz / 2] = I(s.n); // out of range: the kernel writes 0
  std::vector<T> out(size_t(batch * nnz));
  std::vector<float> want(out.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < s.m; ++r) {
      for (int64_t e = s.indptr[r]; e < s.indptr[r + 1]; ++e) {
        float acc = 0.0f;
        for (int64_t j = 0; cols[e] < s.n && j < k; ++j) {
          acc += float(g[(b * s.m + r) * k + j]) * float(bm[(b * s.n + int64_t(cols[e])) * k + j]);
        }
        want[b * nnz + e] = acc;
      }
    }
  }
  const SddmmArgs a{s.m, s.n, nnz, k, s.m * k, s.n * k, batch, lanes};
  ms_emu::launch("sddmm_entry_group", {blocks_for(nnz * lanes), uint32_t(batch)}, {kThreads},
                 [&](const ThreadPos& t) {
                   sddmm_entry_group<T, I>(indptr.data(), cols.data(), g.data(), bm.data(),
                                           out.data(), a, t.thread_position_in_grid);
                 }, order);
  check_all(convert<float>(out), want, sizeof(T) == 4 ? 1e-5f : 2e-2f,
            "sddmm_entry_group " + types + " k=" + std::to_string(k) + " lanes=" +
                std::to_string(lanes));
}

// softmax over each row's entries with a column in range; the others (and none else) are 0.
template <typename T, typename I>
static void test_softmax(const Csr& s, int64_t batch, ms_emu::Order order, const std::string& types) {
  const int64_t nnz = int64_t(s.cols.size());
  const auto data = convert<T>(random_values(size_t(batch * nnz), 3));
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz / 3] = I(s.n + 2);
  std::vector<T> out(size_t(batch * nnz), static_cast<T>(7.0f)); // every entry is written
  std::vector<float> want(out.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < s.m; ++r) {
      float top = -FLT_MAX, sum = 0.0f;
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        top = cols[p] < s.n ? std::max(top, float(data[b * nnz + p])) : top;
      }
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        sum += cols[p] < s.n ? std::exp(float(data[b * nnz + p]) - top) : 0.0f;
      }
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        want[b * nnz + p] = cols[p] < s.n ? std::exp(float(data[b * nnz + p]) - top) / sum : 0.0f;
      }
    }
  }
  const EntryArgs a{s.m, s.n, nnz, nnz, nnz, batch};
  ms_emu::launch("softmax_row_warp", {blocks_for(std::max<int64_t>(s.m, 1) * 32), uint32_t(batch)},
                 {kThreads}, [&](const ThreadPos& t) {
                   softmax_row_warp<T, I>(indptr.data(), cols.data(), data.data(), out.data(), a,
                                          t.thread_position_in_grid, t.thread_index_in_simdgroup);
                 }, order);
  check_all(convert<float>(out), want, sizeof(T) == 4 ? 1e-5f : 2e-2f, "softmax_row_warp " + types);
}

// todense: duplicates add up through device atomics; an entry out of range adds nothing.
template <typename T, typename I>
static void test_todense(const Csr& s, int64_t batch, ms_emu::Order order, const std::string& types) {
  const int64_t nnz = int64_t(s.cols.size()), mn = s.m * s.n;
  const auto data = convert<T>(random_values(size_t(batch * nnz), 4));
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz - 1] = I(-1);
  std::vector<float> acc(size_t(batch * mn)), want(acc.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < s.m; ++r) {
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        if (cols[p] >= 0) {
          want[b * mn + r * s.n + cols[p]] += float(data[b * nnz + p]);
        }
      }
    }
  }
  const EntryArgs a{s.m, s.n, nnz, mn, nnz, batch};
  auto* out = reinterpret_cast<metal::atomic_float*>(acc.data());
  // two threadgroups (the host caps the grid too), so the grid-stride loop turns
  ms_emu::launch("todense_scatter", {2, uint32_t(batch)}, {kThreads}, [&](const ThreadPos& t) {
    todense_scatter<T, I>(indptr.data(), cols.data(), data.data(), out, a,
                          t.thread_position_in_grid, t.threads_per_grid);
  }, order);
  check_all(acc, want, 1e-5f, "todense_scatter " + types);
}

// spmv by chunks of 1024 entries staged in threadgroup memory (a barrier between staging and
// summing), rows crossing chunks added atomically; chunk_rows first finds each chunk's row.
template <typename T, typename I>
static void test_spmv_nnz_split(const Csr& s, int64_t batch, ms_emu::Order order,
                                const std::string& types) {
  const int64_t nnz = int64_t(s.cols.size()), chunk = kSpmvBlock * kSpmvPerThread;
  const int64_t chunks = (nnz + chunk - 1) / chunk;
  const auto vals = convert<T>(random_values(size_t(batch * nnz), 7));
  const auto x = convert<T>(random_values(size_t(batch * s.n), 8));
  std::vector<I> indptr(s.indptr.begin(), s.indptr.end()), cols(s.cols.begin(), s.cols.end());
  cols[nnz / 2] = I(s.n);
  std::vector<float> y(size_t(batch * s.m)), want(y.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < s.m; ++r) {
      for (int64_t p = s.indptr[r]; p < s.indptr[r + 1]; ++p) {
        want[b * s.m + r] +=
            cols[p] < s.n ? float(vals[b * nnz + p]) * float(x[b * s.n + cols[p]]) : 0.0f;
      }
    }
  }
  std::vector<I> table(static_cast<size_t>(chunks)), perm(1);
  ms_emu::launch("chunk_rows", {1}, {kThreads}, [&](const ThreadPos& t) {
    chunk_rows<I>(indptr.data(), table.data(), s.m, nnz, chunk, t.thread_position_in_grid,
                  t.threads_per_grid);
  }, order);
  const ProductArgs a{s.m, s.n, nnz, 1, s.m, nnz, s.n, s.m};
  auto* out = reinterpret_cast<metal::atomic_float*>(y.data());
  ms_emu::launch("spmv_nnz_split", {uint32_t(chunks), uint32_t(batch)}, {kThreads},
                 [&](const ThreadPos& t) {
                   spmv_nnz_split<T, I>(indptr.data(), cols.data(), vals.data(), perm.data(),
                                        x.data(), out, table.data(), a, 0,
                                        t.threadgroup_position_in_grid,
                                        t.thread_index_in_threadgroup);
                 }, order);
  check_all(y, want, sizeof(T) == 4 ? 1e-4f : 2e-2f, "spmv_nnz_split " + types);
}

template <typename T, typename I>
static void test_types(const std::string& types) {
  const Csr s = random_csr(13, 9, 75, 5); // 13 rows: row 1 empty, row 3 of 75 entries
  for (auto order : {ms_emu::Order::forward, ms_emu::Order::reverse}) {
    const std::string what = types + " order=" + (order == ms_emu::Order::forward ? "fwd" : "rev");
    for (int64_t lanes : {1, 2, 8, 32}) {
      test_sddmm<T, I>(s, 5, lanes, 2, order, what);
    }
    test_sddmm<T, I>(s, 70, 32, 1, order, what);
    test_softmax<T, I>(s, 2, order, what);
    test_todense<T, I>(random_csr(13, 9, 700, 6), 2, order, what);
    test_spmv_nnz_split<T, I>(random_csr(300, 9, 1500, 8), 2, order, what); // 3 chunks
  }
}

// Block-sparse attention in double with -inf outside the layout, forward and backward
// (docs/developer/flash_attention.md), over a random problem: batch 2, a block row with no
// block, a row every column of which is masked, a block with a column out of range, bias, d
// not a multiple of the staging chunk,
// dv over two threadgroups' worth of columns.
template <typename T, int BS>
struct AttentionProblem {
  static constexpr int64_t B = 2, mb = 3, nb = 4, lq = mb * BS, lk = nb * BS, d = 24, dv = 72;
  static constexpr float scale = 0.3f;
  std::vector<int> row_ptr{0}, col, t_ptr{0}, t_row, t_block;
  std::vector<T> q, k, v, bias, d_o;
  std::vector<float> dlse;
  std::vector<uint8_t> mask;
  // the reference, in double: outputs and gradients
  std::vector<double> o, lse, g_q, g_k, g_v, g_bias;
  int64_t n_blocks = 0;

  AttentionProblem() {
    std::mt19937 rng(11);
    for (int64_t r = 0; r < B * mb; ++r) {
      for (int j = 0; j < nb; ++j) {
        if (r != 1 && (rng() % 2 == 0 || j == int(r % nb))) {
          col.push_back(j);
        }
      }
      row_ptr.push_back(int(col.size()));
    }
    n_blocks = int64_t(col.size());
    col[size_t(row_ptr[2])] = int(nb); // a bad block (the host checks): it adds nothing, dbias 0
    for (int64_t b = 0; b < B; ++b) { // the transpose: blocks of each key block column
      for (int j = 0; j < nb; ++j) {
        for (int64_t i = 0; i < mb; ++i) {
          for (int e = row_ptr[b * mb + i]; e < row_ptr[b * mb + i + 1]; ++e) {
            if (col[e] == j) {
              t_row.push_back(int(i));
              t_block.push_back(e);
            }
          }
        }
        t_ptr.push_back(int(t_row.size()));
      }
    }
    q = convert<T>(random_values(size_t(B * lq * d), 21));
    k = convert<T>(random_values(size_t(B * lk * d), 22));
    v = convert<T>(random_values(size_t(B * lk * dv), 23));
    bias = convert<T>(random_values(size_t(n_blocks * BS * BS), 24));
    d_o = convert<T>(random_values(size_t(B * lq * dv), 25));
    dlse = random_values(size_t(B * lq), 26);
    mask.resize(size_t(n_blocks * BS * BS));
    for (auto& m : mask) {
      m = rng() % 5 == 0;
    }
    for (int e = row_ptr[0]; e < row_ptr[1]; ++e) { // row 5 of block row 0: all masked
      for (int c = 0; c < BS; ++c) {
        mask[size_t((e * BS + 5) * BS + c)] = 1;
      }
    }
    reference();
  }

  static double f(T x) { return double(float(x)); }

  void reference() {
    o.assign(size_t(B * lq * dv), 0.0);
    lse.assign(size_t(B * lq), 0.0);
    g_q.assign(q.size(), 0.0);
    g_k.assign(k.size(), 0.0);
    g_v.assign(v.size(), 0.0);
    g_bias.assign(bias.size(), 0.0);
    for (int64_t R = 0; R < B * mb; ++R) {
      const int64_t b = R / mb, i = R % mb;
      for (int r = 0; r < BS; ++r) {
        const int64_t qr = b * lq + i * BS + r;
        std::vector<double> sc;
        std::vector<int64_t> keys, at;
        for (int e = row_ptr[R]; e < row_ptr[R + 1]; ++e) {
          for (int c = 0; c < BS && col[e] < nb; ++c) {
            const int64_t a = (e * BS + r) * BS + c;
            if (mask[size_t(a)]) {
              continue;
            }
            const int64_t kr = b * lk + col[e] * BS + c;
            double dot = 0;
            for (int64_t x = 0; x < d; ++x) {
              dot += f(q[qr * d + x]) * f(k[kr * d + x]);
            }
            sc.push_back(dot * scale + f(bias[a]));
            keys.push_back(kr);
            at.push_back(a);
          }
        }
        if (sc.empty()) {
          lse[qr] = -INFINITY;
          continue;
        }
        double top = -INFINITY, sum = 0;
        for (double x : sc) top = std::max(top, x);
        for (double x : sc) sum += std::exp(x - top);
        lse[qr] = top + std::log(sum);
        std::vector<double> p(sc.size());
        for (size_t c = 0; c < sc.size(); ++c) p[c] = std::exp(sc[c] - lse[qr]);
        double delta = -double(dlse[qr]);
        for (int64_t c = 0; c < dv; ++c) {
          double acc = 0;
          for (size_t x = 0; x < sc.size(); ++x) acc += p[x] * f(v[keys[x] * dv + c]);
          o[qr * dv + c] = acc;
          delta += acc * f(d_o[qr * dv + c]);
        }
        for (size_t x = 0; x < sc.size(); ++x) {
          double dp = 0;
          for (int64_t c = 0; c < dv; ++c) dp += f(d_o[qr * dv + c]) * f(v[keys[x] * dv + c]);
          const double ds = p[x] * (dp - delta);
          g_bias[size_t(at[x])] = ds;
          for (int64_t c = 0; c < d; ++c) {
            g_q[qr * d + c] += scale * ds * f(k[keys[x] * d + c]);
            g_k[keys[x] * d + c] += scale * ds * f(q[qr * d + c]);
          }
          for (int64_t c = 0; c < dv; ++c) g_v[keys[x] * dv + c] += p[x] * f(d_o[qr * dv + c]);
        }
      }
    }
  }

  AttentionArgs args() const { return {B, lq, lk, d, dv, BS, n_blocks, scale, 1, 1, 0}; }
};

static std::vector<float> as_float(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

template <typename T, int BS>
static void test_flash_attention_bs(const char* type) {
  using P = AttentionProblem<T, BS>;
  const P p;
  const AttentionArgs a = p.args();
  const float tol = sizeof(T) == 4 ? 1e-4f : 3e-2f;
  const std::string what = std::string("flash_attention ") + type + " bs=" + std::to_string(BS);
  const uint32_t rows = uint32_t(P::B * P::mb), cols = uint32_t(P::B * P::nb);
  // forward: every output written (7 beforehand), lse -inf for rows with no column
  std::vector<T> o(p.o.size(), static_cast<T>(7.0f));
  std::vector<float> lse(p.lse.size(), 7.0f);
  ms_emu::launch("flash_attention_forward", {rows, 2}, {uint32_t(BS * 2)}, [&](const ThreadPos& t) {
    flash_attention_forward<T, BS>(p.q.data(), p.k.data(), p.v.data(), p.row_ptr.data(),
                                   p.col.data(), p.bias.data(), p.mask.data(), o.data(), lse.data(),
                                   a, t.threadgroup_position_in_grid, t.thread_index_in_threadgroup,
                                   t.simdgroup_index_in_threadgroup, t.thread_index_in_simdgroup);
  });
  check_all(convert<float>(o), as_float(p.o), tol, what + " o");
  bool lse_ok = true;
  for (size_t x = 0; x < lse.size(); ++x) {
    lse_ok &= std::isinf(p.lse[x]) ? (std::isinf(lse[x]) && lse[x] < 0) : close(lse[x], float(p.lse[x]), tol);
  }
  check(lse_ok, what + " lse");
  // backward, from the reference's o and lse
  const auto o_in = convert<T>(as_float(p.o));
  const auto lse_in = as_float(p.lse);
  std::vector<float> delta(lse.size());
  ms_emu::launch("flash_attention_delta", {blocks_for(int64_t(lse.size()) * 32)}, {kThreads},
                 [&](const ThreadPos& t) {
                   flash_attention_delta<T>(o_in.data(), p.d_o.data(), p.dlse.data(), delta.data(), a,
                                            t.thread_position_in_grid, t.thread_index_in_simdgroup);
                 });
  std::vector<T> dq(p.q.size(), static_cast<T>(7.0f)), dbias(p.bias.size(), static_cast<T>(7.0f));
  ms_emu::launch("flash_attention_dq", {rows, 1}, {uint32_t(BS * 2)}, [&](const ThreadPos& t) {
    flash_attention_dq<T, BS>(p.q.data(), p.k.data(), p.v.data(), p.row_ptr.data(), p.col.data(),
                              p.bias.data(), p.mask.data(), lse_in.data(), p.d_o.data(), delta.data(),
                              dq.data(), dbias.data(), a, t.threadgroup_position_in_grid,
                              t.thread_index_in_threadgroup, t.simdgroup_index_in_threadgroup,
                              t.thread_index_in_simdgroup);
  });
  std::vector<T> dk(p.k.size(), static_cast<T>(7.0f)), dv(p.v.size(), static_cast<T>(7.0f));
  ms_emu::launch("flash_attention_dkdv", {cols, 2}, {uint32_t(BS * 2)}, [&](const ThreadPos& t) {
    flash_attention_dkdv<T, BS>(p.q.data(), p.k.data(), p.v.data(), p.t_ptr.data(), p.t_row.data(),
                                p.t_block.data(), p.bias.data(), p.mask.data(), lse_in.data(),
                                p.d_o.data(), delta.data(), dk.data(), dv.data(), a,
                                t.threadgroup_position_in_grid, t.thread_index_in_threadgroup,
                                t.simdgroup_index_in_threadgroup, t.thread_index_in_simdgroup);
  });
  // masked entries of a stored block get ds = 0
  check_all(convert<float>(dq), as_float(p.g_q), tol, what + " dq");
  check_all(convert<float>(dk), as_float(p.g_k), tol, what + " dk");
  check_all(convert<float>(dv), as_float(p.g_v), tol, what + " dv");
  check_all(convert<float>(dbias), as_float(p.g_bias), tol, what + " dbias");
}

template <typename T>
static void test_flash_attention(const char* type) {
  test_flash_attention_bs<T, 16>(type);
  test_flash_attention_bs<T, 32>(type);
  test_flash_attention_bs<T, 64>(type);
}

int main() {
  try {
    test_flash_attention<float>("float32");
  #ifndef MS_EMU_SEEDED
    test_flash_attention<half>("float16");
    test_flash_attention<bfloat16_t>("bfloat16");
  #endif
    test_types<float, int32_t>("float32/int32");
  #ifndef MS_EMU_SEEDED // a seeded copy of a kernel (scripts/metal_emulator_tests.sh) runs one type
    test_types<float, int64_t>("float32/int64");
    test_types<half, int32_t>("float16/int32");
    test_types<bfloat16_t, int64_t>("bfloat16/int64");
  #endif
  } catch (const ms_emu::Error& e) { // a run the emulator stopped: the test fails
    check(false, std::string("ERROR ") + e.what());
  }
  std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
