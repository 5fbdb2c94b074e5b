// Scheduler throughput (turns per second): a 1024-thread threadgroup doing 10 barriers, and
// a large grid of a trivial kernel (a turn is one thread running to its next rendezvous or
// its end); and the bare cost of a fiber switch. Build with -O2, no sanitizer; see
// docs/developer/metal_emulator.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fiber.h"
#include "runtime.h"
#include "metal_emu.h"
#include "kernels_end.h"

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Switches to a fiber that switches straight back, `rounds` times: two switches a round.
static void bench_switch(int rounds) {
  static ms_emu::Context main_context;
  static ms_emu::Fiber* fiber = nullptr;
  fiber = new ms_emu::Fiber([](void*) {
    for (;;) {
      ms_emu::switch_context(fiber->context(), main_context);
    }
  }, nullptr, ms_emu::default_stack_bytes());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    ms_emu::switch_context(main_context, fiber->context());
  }
  const double s = seconds_since(t0);
  std::printf("fiber switch: %.1f ns\n", s * 1e9 / (2.0 * rounds));
}

int main(int argc, char** argv) {
  bench_switch(1000000);
  const uint32_t groups = argc > 1 ? uint32_t(std::atoi(argv[1])) : 4096;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 20;
  std::vector<float> sink(1024);
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) {
    ms_emu::launch("barriers", {1}, {1024}, [&](const ms_emu::ThreadPos& t) {
      for (int b = 0; b < 10; ++b) {
        sink[t.thread_index_in_threadgroup] += 1.0f;
        metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
      }
    });
  }
  double s = seconds_since(t0);
  std::printf("1024 threads x 10 barriers: %.3g turns/s (%.1f ns/turn)\n",
              repeats * 1024.0 * 11 / s, s * 1e9 / (repeats * 1024.0 * 11));
  std::vector<uint32_t> out(size_t(groups) * 256);
  t0 = std::chrono::steady_clock::now();
  ms_emu::launch("trivial", {groups}, {256}, [&](const ms_emu::ThreadPos& t) {
    out[t.thread_position_in_grid.x] = t.thread_position_in_grid.x;
  });
  s = seconds_since(t0);
  std::printf("%u groups x 256 threads, trivial: %.3g turns/s (%.3f s)\n", groups,
              groups * 256.0 / s, s);
  return 0;
}
