// Fibers for the emulator's scheduler: every thread of a threadgroup runs on a stack of its
// own, all on the OS thread that launched the kernel, switching only at rendezvous. On Linux
// x86-64 a hand-written switch saves the callee-saved registers (glibc's swapcontext makes a
// sigprocmask syscall per switch); elsewhere ucontext. AddressSanitizer is told of every switch.
#pragma once

#include <cstddef>

namespace ms_emu {

// A saved execution context: a fiber's, or the launching OS thread's (which has no stack of
// ours; its bounds are learnt from AddressSanitizer at the first switch away from it).
struct Context {
  void* sp = nullptr;      // saved stack pointer (hand-written switch)
  void* uc = nullptr;      // ucontext_t (fallback switch)
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void* fake_stack = nullptr; // AddressSanitizer's saved fake stack
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
};

// A fiber that calls entry(arg) on a stack of `stack_bytes` below a guard page (an overflow
// faults instead of corrupting its neighbour). entry must never return.
class Fiber {
 public:
  using Entry = void (*)(void*);
  Fiber(Entry entry, void* arg, size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  Context& context() { return ctx_; }

 private:
  Context ctx_;
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
};

// Saves the running context into `from` and resumes `to`; returns when something switches
// back to `from`. A fiber's entry calls fiber_started() first.
void switch_context(Context& from, Context& to);
void fiber_started(Context& self);

// Stack bytes of each fiber (more under AddressSanitizer, whose frames carry redzones).
size_t default_stack_bytes();

} // namespace ms_emu
