// Tests of the emulator itself: SIMD-group functions (simd_ballot too) against their
// definitions, threadgroup memory and barriers through block_sum.metal, simdgroup_matrix
// through mma_tile.metal (every element type, fragment layout, transposed load/store), device atomics, and
// the reports it must give (divergence, a lane the SIMD group lacks) instead of a hang or a
// wrong answer.
#include "block_sum.metal"
#include "mma_tile.metal"

#include "kernels_end.h"

#include "check.h"

using ms_emu::Dim3;
using ms_emu::ThreadPos;
using namespace ms_emu_test;

static const char* name(ms_emu::Order o) {
  return o == ms_emu::Order::forward ? "forward" : "reverse";
}

static void test_block_sum(uint n, uint threads, ms_emu::Order order) {
  std::vector<float> x(n);
  for (uint i = 0; i < n; ++i) {
    x[i] = float(int(i * 7 % 17) - 8); // small integers: every order of summation is exact
  }
  const uint groups = (n + threads - 1) / threads;
  std::vector<float> out(groups), prefix(n), want_out(groups), want_prefix(n);
  for (uint i = 0; i < n; ++i) {
    want_out[i / threads] += x[i];
    want_prefix[i] = x[i] + (i % 32 == 0 ? 0.0f : want_prefix[i - 1]);
  }
  ms_emu::launch("block_sum", {groups}, {threads}, [&](const ThreadPos& t) {
    block_sum(x.data(), out.data(), prefix.data(), n, t.threadgroup_position_in_grid,
              t.threads_per_threadgroup, t.thread_index_in_threadgroup,
              t.simdgroup_index_in_threadgroup, t.thread_index_in_simdgroup);
  }, order);
  const std::string what = "block_sum n=" + std::to_string(n) + " threads=" +
                           std::to_string(threads) + " order=" + name(order);
  check_all(out, want_out, 0.0f, what + " out");
  check_all(prefix, want_prefix, 0.0f, what + " prefix");
}

// Each lane of two SIMD groups writes what the SIMD-group functions give it.
static void test_simd_functions() {
  std::vector<int> got(64 * 9);
  ms_emu::launch("simd_functions", {1}, {64}, [&](const ThreadPos& t) {
    const int v = int(t.thread_index_in_threadgroup) * 10;
    int* o = got.data() + 9 * t.thread_index_in_threadgroup;
    o[0] = metal::simd_shuffle_up(v, ushort(3));
    o[1] = metal::simd_shuffle_down(v, ushort(5));
    o[2] = metal::simd_shuffle_xor(v, ushort(6));
    o[3] = metal::simd_broadcast(v, ushort(9));
    o[4] = metal::simd_prefix_exclusive_sum(v);
    o[5] = metal::simd_max(v);
    o[6] = metal::simd_min(v);
    o[7] = metal::simd_any(t.thread_index_in_threadgroup == 40);
    o[8] = metal::simd_all(t.thread_index_in_simdgroup < 31);
  });
  for (int i = 0; i < 64; ++i) {
    const int lane = i % 32, base = i - lane;
    const int* o = got.data() + 9 * i;
    int prefix = 0;
    for (int j = base; j < i; ++j) {
      prefix += 10 * j;
    }
    const int want[9] = {10 * (lane >= 3 ? i - 3 : i), 10 * (lane + 5 < 32 ? i + 5 : i),
                         10 * (base + (lane ^ 6)), 10 * (base + 9), prefix, 10 * (base + 31),
                         10 * base, base == 32, 0};
    for (int f = 0; f < 9; ++f) {
      check(o[f] == want[f], "simd function " + std::to_string(f) + " lane " +
                                 std::to_string(i) + ": " + std::to_string(o[f]) +
                                 ", expected " + std::to_string(want[f]));
    }
  }
}

// simd_ballot over a full SIMD group and a partial one (8 lanes): bits, all() and any().
static void test_simd_ballot() {
  std::vector<uint64_t> bits(40);
  std::vector<int> all(40), any(40);
  ms_emu::launch("simd_ballot", {1}, {40}, [&](const ThreadPos& t) {
    const uint i = t.thread_index_in_threadgroup;
    const metal::simd_vote v = metal::simd_ballot(i % 3 == 0 || i >= 32);
    bits[i] = uint64_t(metal::simd_vote::vote_t(v));
    all[i] = v.all();
    any[i] = v.any();
  });
  uint64_t every_third = 0;
  for (int lane = 0; lane < 32; lane += 3) {
    every_third |= uint64_t(1) << lane;
  }
  check(bits[0] == every_third && bits[31] == every_third && !all[0] && any[0],
        "simd_ballot, full SIMD group: " + std::to_string(bits[0]));
  check(bits[32] == 0xff && bits[39] == 0xff && all[32] && any[39],
        "simd_ballot, 8 lanes: " + std::to_string(bits[32]));
}

static void test_atomics() {
  metal::atomic_uint counter{0};
  ms_emu::launch("atomics", {3, 2}, {128}, [&](const ThreadPos&) {
    metal::atomic_fetch_add_explicit(&counter, 1u, metal::memory_order_relaxed);
  });
  check(counter.value == 3 * 2 * 128, "atomic_fetch_add: " + std::to_string(counter.value));
}

// mma_tile: c (16 x 16) += a (16 x k) @ b (k x 16) on simdgroup_matrix, for inputs of type T.
// Small integers: every product and sum is exact in float, and the inputs in half and bfloat.
template <typename T>
static void test_mma_tile(uint k, bool transpose_c, const char* type) {
  std::vector<T> a(16 * k), b(k * 16);
  std::vector<float> af(a.size()), bf(b.size()), c(256), want(256);
  for (size_t i = 0; i < a.size(); ++i) {
    af[i] = float(int(i * 5 % 7) - 3);
    a[i] = static_cast<T>(af[i]);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    bf[i] = float(int(i * 3 % 11) - 5);
    b[i] = static_cast<T>(bf[i]);
  }
  for (uint i = 0; i < 256; ++i) {
    c[i] = float(i % 13);
  }
  for (uint r = 0; r < 16; ++r) {
    for (uint col = 0; col < 16; ++col) {
      float acc = c[transpose_c ? col * 16 + r : r * 16 + col];
      for (uint j = 0; j < k; ++j) {
        acc += af[r * k + j] * bf[j * 16 + col];
      }
      want[transpose_c ? col * 16 + r : r * 16 + col] = acc;
    }
  }
  ms_emu::launch("mma_tile", {1}, {128}, [&](const ThreadPos& t) {
    mma_tile<T>(a.data(), b.data(), c.data(), k, transpose_c, t.thread_index_in_threadgroup,
                t.simdgroup_index_in_threadgroup, t.thread_index_in_simdgroup);
  });
  check_all(c, want, 0.0f, std::string("mma_tile ") + type + " k=" + std::to_string(k) +
                               (transpose_c ? " transposed" : ""));
}

// Each lane's thread_elements() are the fragment's (row, col) and (row, col + 1), as MLX's
// steel kernels read them: lane l of a matrix loaded from 0..63 holds 8 * row + col.
static void test_fragment_layout() {
  std::vector<float> src(64), got(64);
  for (int i = 0; i < 64; ++i) {
    src[i] = float(i);
  }
  ms_emu::launch("fragment_layout", {1}, {32}, [&](const ThreadPos& t) {
    metal::simdgroup_float8x8 m;
    metal::simdgroup_load(m, src.data());
    got[2 * t.thread_index_in_simdgroup] = m.thread_elements()[0];
    got[2 * t.thread_index_in_simdgroup + 1] = m.thread_elements()[1];
  });
  for (uint l = 0; l < 32; ++l) {
    const uint row = ((l / 4) & 4) + (l / 2) % 4, col = ((l / 4) & 2) * 2 + (l % 2) * 2;
    check(got[2 * l] == float(8 * row + col) && got[2 * l + 1] == float(8 * row + col + 1),
          "fragment layout lane " + std::to_string(l));
  }
}

// The run must fail with an Error whose message holds every piece of `want`.
static void expect_error(const char* kernel, Dim3 threads, const ms_emu::Body& body,
                         std::vector<std::string> want) {
  try {
    ms_emu::launch(kernel, {2}, threads, body);
    check(false, std::string(kernel) + ": ran without an error");
  } catch (const ms_emu::Error& e) {
    const std::string msg = e.what();
    for (const auto& w : want) {
      check(msg.find(w) != std::string::npos, std::string(kernel) + ": '" + w + "' not in: " + msg);
    }
  }
}

static void test_reports() {
  expect_error("skips_simd_sum", {64}, [](const ThreadPos& t) {
    if (t.thread_index_in_threadgroup != 37) {
      metal::simd_sum(1.0f);
    }
  }, {"kernel 'skips_simd_sum'", "divergence", "thread 37", "calls simd_sum", "has returned"});
  expect_error("mixed_functions", {32}, [](const ThreadPos& t) {
    t.thread_index_in_simdgroup == 4 ? metal::simd_max(1.0f) : metal::simd_sum(1.0f);
  }, {"divergence", "simd_max", "simd_sum"});
  expect_error("returns_before_barrier", {96}, [](const ThreadPos& t) {
    if (t.thread_index_in_threadgroup == 70) {
      return;
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
  }, {"divergence", "thread 70", "has returned", "threadgroup_barrier"});
  expect_error("missing_lane", {40}, [](const ThreadPos& t) {
    metal::simd_shuffle_xor(1.0f, ushort(16));
    (void)t;
  }, {"kernel 'missing_lane', threadgroup (0, 0, 0): thread 32 (lane 0 of SIMD group 1)",
        "simd_shuffle_xor reads lane 16", "does not have"});
  expect_error("partial_simdgroup_matrix", {40}, [](const ThreadPos&) {
    const auto m = metal::make_filled_simdgroup_matrix<float, 8, 8>(1.0f);
    metal::simdgroup_float8x8 d;
    metal::simdgroup_multiply(d, m, m);
  }, {"thread 32 (lane 0 of SIMD group 1)", "simdgroup_multiply_accumulate reads lane 8",
      "does not have"});
  expect_error("too_many_threads", {1025}, [](const ThreadPos&) {}, {"1 to 1024"});
}

int main() {
  try {
    for (auto order : {ms_emu::Order::forward, ms_emu::Order::reverse}) {
      test_block_sum(200, 64, order);
      test_block_sum(37, 96, order);
      test_block_sum(1000, 256, order);
      test_block_sum(1, 32, order);
    }
    test_simd_functions();
    test_simd_ballot();
    test_fragment_layout();
    for (uint k : {8u, 24u}) {
      for (bool transpose_c : {false, true}) {
        test_mma_tile<float>(k, transpose_c, "float");
        test_mma_tile<half>(k, transpose_c, "half");
        test_mma_tile<bfloat>(k, transpose_c, "bfloat");
      }
    }
    test_atomics();
    test_reports();
  } catch (const ms_emu::Error& e) { // a run the emulator stopped: the test fails
    check(false, std::string("ERROR ") + e.what());
  }
  std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
