// The scheduler behind runtime.h. Each thread of a threadgroup is an OS thread, but only one
// runs at a time: it runs to its next rendezvous and hands back, so a round leaves every
// thread at a rendezvous or finished, and the scheduler sees at once who left whom waiting.
#include "runtime.h"

#include <memory>
#include <semaphore>
#include <thread>
#include <vector>

namespace ms_emu {
namespace {

enum class At { ready, threadgroup_barrier, simd, exited };
struct Abort {}; // unwinds a thread of a failed run

struct Group;
struct Worker {
  Group* group = nullptr;
  int index = 0;
  std::binary_semaphore go{0};
  At at = At::exited;
  Arrival slot[2]; // alternate, so a lane's next arrival leaves the last one readable
  int parity = 0;
  const Arrival* seen[kSimdWidth];
  ThreadPos pos;
  std::thread os_thread;
};

struct Group {
  std::string kernel;
  std::string where; // "threadgroup (x, y, z)"
  const Body* body = nullptr;
  std::vector<std::unique_ptr<Worker>> workers;
  std::binary_semaphore done{0};
  std::vector<Worker*> round; // the threads taking a turn this round, in order
  size_t next = 0;
  bool abort = false, shutdown = false;
  std::string error;

  void fail(const std::string& what) {
    if (error.empty()) {
      error = "[metal-emulator] kernel '" + kernel + "', " + where + ": " + what;
    }
  }
};

thread_local Worker* self = nullptr;

Worker& current(const char* what) {
  if (self == nullptr) {
    throw Error(std::string("[metal-emulator] ") + what + " called outside a kernel launch");
  }
  return *self;
}

// Hands the turn to the round's next thread, after the last back to the scheduler (one
// switch per turn, not two).
void pass_on(Group& g) {
  if (++g.next < g.round.size()) {
    g.round[g.next]->go.release();
  } else {
    g.done.release();
  }
}

// Ends this thread's turn and waits for its next one.
void yield(Worker& w) {
  pass_on(*w.group);
  w.go.acquire();
  if (w.group->abort) {
    throw Abort{};
  }
}

void worker_main(Worker& w) {
  self = &w;
  Group& g = *w.group;
  for (;;) {
    w.go.acquire();
    if (g.shutdown) {
      return;
    }
    try {
      (*g.body)(w.pos);
    } catch (const Abort&) {
    } catch (const std::exception& e) {
      g.fail("thread " + std::to_string(w.index) + ": " + e.what());
    }
    w.at = At::exited;
    pass_on(g);
  }
}

std::string describe(const Worker& w) {
  const std::string who = "thread " + std::to_string(w.index) + " (lane " +
                          std::to_string(w.index % kSimdWidth) + " of SIMD group " +
                          std::to_string(w.index / kSimdWidth) + ")";
  switch (w.at) {
    case At::threadgroup_barrier: return who + " waits at threadgroup_barrier";
    case At::simd: return who + " calls " + w.slot[w.parity].op;
    case At::exited: return who + " has returned";
    default: return who + " runs";
  }
}

// Every thread is at a rendezvous or finished: release the SIMD groups whose lanes all wait
// at one SIMD-group function, else the threadgroup barrier; anything else is divergence.
bool resolve(Group& g) {
  const int n = static_cast<int>(g.workers.size());
  bool progressed = false;
  for (int first = 0; first < n; first += kSimdWidth) {
    const int last = std::min(n, first + kSimdWidth);
    const Worker* caller = nullptr;
    for (int i = first; i < last && caller == nullptr; ++i) {
      caller = g.workers[i]->at == At::simd ? g.workers[i].get() : nullptr;
    }
    if (caller == nullptr) {
      continue;
    }
    const Arrival& a = caller->slot[caller->parity];
    for (int i = first; i < last; ++i) {
      const Worker& w = *g.workers[i];
      const Arrival& b = w.slot[w.parity];
      if (w.at != At::simd || std::strcmp(a.op, b.op) != 0 || a.type != b.type) {
        g.fail("divergence: " + describe(*caller) + " but " + describe(w) +
               (w.at == At::simd && std::strcmp(a.op, b.op) == 0 ? " with another type" : "") +
               "; every lane of a SIMD group must call its SIMD-group functions together");
        return false;
      }
    }
    for (int i = first; i < last; ++i) {
      g.workers[i]->at = At::ready;
    }
    progressed = true;
  }
  if (progressed) {
    return true;
  }
  const Worker* waiting = nullptr;
  for (const auto& w : g.workers) {
    waiting = w->at == At::threadgroup_barrier ? w.get() : waiting;
  }
  for (const auto& w : g.workers) {
    if (w->at == At::exited) {
      g.fail("divergence: " + describe(*waiting) + " but " + describe(*w) +
             "; every thread of a threadgroup must reach each threadgroup_barrier");
      return false;
    }
  }
  for (auto& w : g.workers) {
    w->at = At::ready;
  }
  return true;
}

// Gives a turn to every thread that `takes` one, in `order`, and waits for the round's end.
template <typename Takes>
void run_round(Group& g, Order order, Takes takes) {
  const int n = static_cast<int>(g.workers.size());
  g.round.clear();
  for (int k = 0; k < n; ++k) {
    Worker* w = g.workers[order == Order::forward ? k : n - 1 - k].get();
    if (takes(*w)) {
      g.round.push_back(w);
    }
  }
  if (!g.round.empty()) {
    g.next = 0;
    g.round[0]->go.release();
    g.done.acquire();
  }
}

// Runs one threadgroup to its end; false when it failed (the threads are then unwound).
bool run_group(Group& g, Order order) {
  for (;;) {
    run_round(g, order, [](const Worker& w) { return w.at == At::ready; });
    bool any_left = false;
    for (const auto& w : g.workers) {
      any_left = any_left || w->at != At::exited;
    }
    if (g.error.empty() && !any_left) {
      return true;
    }
    if (!g.error.empty() || !resolve(g)) {
      g.abort = true;
      run_round(g, order, [](const Worker& w) { return w.at != At::exited; });
      return false;
    }
  }
}

uint3 mul_add(Dim3 a, Dim3 b, uint3 c) {
  return {a.x * b.x + c.x, a.y * b.y + c.y, a.z * b.z + c.z};
}

} // namespace

void launch(const std::string& kernel, Dim3 groups, Dim3 threads, const Body& body,
            Order order) {
  const uint64_t n = uint64_t(threads.x) * threads.y * threads.z;
  if (n == 0 || n > 1024) {
    throw Error("[metal-emulator] kernel '" + kernel + "': " + std::to_string(n) +
                " threads per threadgroup; Metal allows 1 to 1024");
  }
  Group g;
  g.kernel = kernel;
  g.body = &body;
  for (uint64_t i = 0; i < n; ++i) {
    g.workers.push_back(std::make_unique<Worker>());
    g.workers.back()->group = &g;
    g.workers.back()->index = static_cast<int>(i);
  }
  for (auto& w : g.workers) {
    w->os_thread = std::thread(worker_main, std::ref(*w));
  }
  const uint simd_groups = static_cast<uint>((n + kSimdWidth - 1) / kSimdWidth);
  bool ok = true;
  for (uint32_t gz = 0; ok && gz < groups.z; ++gz) {
    for (uint32_t gy = 0; ok && gy < groups.y; ++gy) {
      for (uint32_t gx = 0; ok && gx < groups.x; ++gx) {
        g.where = "threadgroup (" + std::to_string(gx) + ", " + std::to_string(gy) + ", " +
                  std::to_string(gz) + ")";
        for (auto& w : g.workers) {
          const uint i = static_cast<uint>(w->index);
          const uint3 t{i % threads.x, i / threads.x % threads.y, i / (threads.x * threads.y)};
          w->pos = {mul_add({gx, gy, gz}, threads, t), mul_add(groups, threads, {}), t,
                    {gx, gy, gz}, {groups.x, groups.y, groups.z},
                    {threads.x, threads.y, threads.z}, i, i % kSimdWidth, i / kSimdWidth,
                    simd_groups, kSimdWidth};
          w->at = At::ready;
          w->parity = 0;
        }
        ok = run_group(g, order);
      }
    }
  }
  g.shutdown = true;
  for (auto& w : g.workers) {
    w->go.release();
    w->os_thread.join();
  }
  if (!ok) {
    throw Error(g.error);
  }
}

void threadgroup_rendezvous() {
  Worker& w = current("threadgroup_barrier");
  w.at = At::threadgroup_barrier;
  yield(w);
}

const Arrival* const* simd_rendezvous(const Arrival& a) {
  Worker& w = current(a.op);
  w.slot[w.parity] = a;
  w.at = At::simd;
  yield(w);
  const auto& workers = w.group->workers;
  const size_t first = size_t(w.index) / kSimdWidth * kSimdWidth;
  for (size_t lane = 0; lane < kSimdWidth; ++lane) {
    const size_t i = first + lane;
    w.seen[lane] = i < workers.size() ? &workers[i]->slot[w.parity] : nullptr;
  }
  w.parity ^= 1;
  return w.seen;
}

uint lane_id() {
  return static_cast<uint>(current("simd lane").index % kSimdWidth);
}

} // namespace ms_emu
