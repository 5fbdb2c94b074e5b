// The emulator's scheduler: runs a kernel over a grid of threadgroups, one threadgroup after
// another, the threads of a threadgroup concurrently (a fiber each on the calling OS thread,
// handing over at every barrier or SIMD-group function), so that runs are deterministic and a
// thread that leaves its siblings at a rendezvous is reported as divergence, never a hang.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "../check/metal_types.h"
#include "grid.h"

namespace ms_emu {

constexpr int kSimdWidth = 32;

// The thread-position attributes of one thread ([[thread_position_in_grid]] and the others).
struct ThreadPos {
  uint3 thread_position_in_grid, threads_per_grid, thread_position_in_threadgroup;
  uint3 threadgroup_position_in_grid, threadgroups_per_grid, threads_per_threadgroup;
  uint thread_index_in_threadgroup, thread_index_in_simdgroup, simdgroup_index_in_threadgroup;
  uint simdgroups_per_threadgroup, threads_per_simdgroup;
};

using Body = std::function<void(const ThreadPos&)>;

// Runs `body` once per thread of groups.x * groups.y * groups.z threadgroups of `threads`
// threads (at most 1024). Throws Error on divergence or on an exception in a thread.
// Safe from any OS thread: launches are serialised (threadgroup variables are statics).
void launch(const std::string& kernel, Dim3 groups, Dim3 threads, const Body& body,
            Order order = Order::forward);

// What a lane hands to a SIMD-group function or barrier; `type` tells values apart.
struct Arrival {
  const char* op;
  size_t type;
  unsigned char value[8];
};

// Called from inside a kernel: waits at the threadgroup's barrier, or at the SIMD group's
// rendezvous named by `a`, and returns the lanes' arrivals (indexed by lane; null where the
// SIMD group has no such lane), valid until this lane's next rendezvous.
void threadgroup_rendezvous();
const Arrival* const* simd_rendezvous(const Arrival& a);
uint lane_id();

// Called where a kernel declares threadgroup storage (rewritten to a static by
// scripts/metal_emulator_kernels.py): the first thread of each threadgroup to pass fills it
// with garbage, NaN or -1 in even threadgroups and a huge value in odd ones, so that reading
// it before writing it, or relying on the last threadgroup's values, shows.
void threadgroup_storage(void* storage, size_t bytes);

} // namespace ms_emu
