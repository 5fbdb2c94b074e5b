// The scheduler behind runtime.h. Each thread of a threadgroup is a fiber (fiber.h) on the
// launching OS thread: it runs to its next rendezvous and hands the turn on, so a round leaves
// every thread at a rendezvous or finished, and the scheduler sees at once who left whom waiting.
#include "runtime.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "fiber.h"

namespace ms_emu {
namespace {

enum class At { ready, threadgroup_barrier, simd, exited };
struct Abort {}; // unwinds a thread of a failed run

struct Group;
// A GPU thread: a fiber kept for later launches (its stack is mapped once), which runs the
// body of whatever launch resumes it.
struct Worker {
  std::unique_ptr<Fiber> fiber;
  int index = 0;
  At at = At::exited;
  Arrival slot[2]; // alternate, so a lane's next arrival leaves the last one readable
  int parity = 0;
  const Arrival* seen[kSimdWidth];
  ThreadPos pos;
};

struct Group {
  std::string kernel;
  uint3 at; // the threadgroup running
  const Body* body = nullptr;
  std::vector<Worker*> workers;
  std::vector<Worker*> round; // the threads taking a turn this round, in order
  size_t next = 0;
  bool abort = false;
  std::string error;
  Context scheduler; // the launching OS thread
  std::vector<void*> storage; // threadgroup storage filled for this threadgroup

  void fail(const std::string& what) {
    if (error.empty()) {
      error = "[metal-emulator] kernel '" + kernel + "', threadgroup (" + std::to_string(at.x) +
              ", " + std::to_string(at.y) + ", " + std::to_string(at.z) + "): " + what;
    }
  }
};

// One launch at a time (threadgroup variables are statics, the fibers are shared): these are
// plain globals, not thread_local, since a fiber may resume on another OS thread next launch.
std::mutex launch_mutex;
std::vector<std::unique_ptr<Worker>> pool;
Group* running = nullptr;
Worker* self = nullptr;

Worker& current(const char* what) {
  if (self == nullptr) {
    throw Error(std::string("[metal-emulator] ") + what + " called outside a kernel launch");
  }
  return *self;
}

// Hands the turn to the round's next thread, after the last back to the scheduler (one
// switch per turn, not two).
void pass_on(Group& g, Worker& from) {
  if (++g.next < g.round.size()) {
    self = g.round[g.next];
    switch_context(from.fiber->context(), self->fiber->context());
  } else {
    self = nullptr;
    switch_context(from.fiber->context(), g.scheduler);
  }
}

// Ends this thread's turn and waits for its next one.
void yield(Worker& w) {
  Group& g = *running;
  pass_on(g, w);
  if (g.abort) {
    throw Abort{};
  }
}

std::string who(const Worker& w) {
  return "thread " + std::to_string(w.index) + " (lane " + std::to_string(w.index % kSimdWidth) +
         " of SIMD group " + std::to_string(w.index / kSimdWidth) + ")";
}

// A fiber's life: run the body for the threadgroup it is resumed for, then hand on.
void worker_main(void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  for (;;) {
    Group& g = *running;
    try {
      (*g.body)(w.pos);
    } catch (const Abort&) {
    } catch (const std::exception& e) {
      g.fail(who(w) + ": " + e.what());
    } catch (...) {
      g.fail(who(w) + ": an exception of unknown type");
    }
    w.at = At::exited;
    pass_on(g, w);
  }
}

std::string describe(const Worker& w) {
  switch (w.at) {
    case At::threadgroup_barrier: return who(w) + " waits at threadgroup_barrier";
    case At::simd: return who(w) + " calls " + w.slot[w.parity].op;
    case At::exited: return who(w) + " has returned";
    default: return who(w) + " runs";
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
      caller = g.workers[i]->at == At::simd ? g.workers[i] : nullptr;
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
    waiting = w->at == At::threadgroup_barrier ? w : waiting;
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
    Worker* w = g.workers[order == Order::forward ? k : n - 1 - k];
    if (takes(*w)) {
      g.round.push_back(w);
    }
  }
  if (!g.round.empty()) {
    g.next = 0;
    self = g.round[0];
    switch_context(g.scheduler, self->fiber->context());
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
  std::lock_guard<std::mutex> lock(launch_mutex);
  while (pool.size() < n) { // stacks are mapped once, for the largest threadgroup yet
    auto w = std::make_unique<Worker>();
    w->index = static_cast<int>(pool.size());
    w->fiber = std::make_unique<Fiber>(worker_main, w.get(), default_stack_bytes());
    pool.push_back(std::move(w));
  }
  Group g;
  g.kernel = kernel;
  g.body = &body;
  for (uint64_t i = 0; i < n; ++i) {
    g.workers.push_back(pool[i].get());
  }
  running = &g;
  const uint simd_groups = static_cast<uint>((n + kSimdWidth - 1) / kSimdWidth);
  bool ok = true;
  for (uint32_t gz = 0; ok && gz < groups.z; ++gz) {
    for (uint32_t gy = 0; ok && gy < groups.y; ++gy) {
      for (uint32_t gx = 0; ok && gx < groups.x; ++gx) {
        g.at = {gx, gy, gz};
        for (Worker* w : g.workers) {
          const uint i = static_cast<uint>(w->index);
          const uint3 t{i % threads.x, i / threads.x % threads.y, i / (threads.x * threads.y)};
          w->pos = {mul_add({gx, gy, gz}, threads, t), mul_add(groups, threads, {}), t,
                    {gx, gy, gz}, {groups.x, groups.y, groups.z},
                    {threads.x, threads.y, threads.z}, i, i % kSimdWidth, i / kSimdWidth,
                    simd_groups, kSimdWidth};
          w->at = At::ready;
          w->parity = 0;
        }
        g.storage.clear();
        ok = run_group(g, order);
      }
    }
  }
  running = nullptr;
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
  const auto& workers = running->workers;
  const size_t first = size_t(w.index) / kSimdWidth * kSimdWidth;
  for (size_t lane = 0; lane < kSimdWidth; ++lane) {
    const size_t i = first + lane;
    w.seen[lane] = i < workers.size() ? &workers[i]->slot[w.parity] : nullptr;
  }
  w.parity ^= 1;
  return w.seen;
}

void threadgroup_storage(void* storage, size_t bytes) {
  (void)current("threadgroup storage"); // inside a launch, so `running` is set
  Group& g = *running;
  if (std::find(g.storage.begin(), g.storage.end(), storage) == g.storage.end()) {
    g.storage.push_back(storage);
    const uint3 at = g.at;
    std::memset(storage, (at.x + at.y + at.z) % 2 ? 0x7f : 0xff, bytes);
  }
}

uint lane_id() {
  return static_cast<uint>(current("simd lane").index % kSimdWidth);
}

} // namespace ms_emu
