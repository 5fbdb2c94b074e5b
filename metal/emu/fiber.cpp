// The context switch behind fiber.h: hand-written on Linux x86-64, ucontext elsewhere.
#if defined(__x86_64__) && defined(__linux__) && !defined(MS_EMU_UCONTEXT)
#define MS_EMU_ASM_SWITCH 1
#elif defined(__APPLE__)
#define _XOPEN_SOURCE 700 // macOS declares the (deprecated) ucontext calls only with it
#define _DARWIN_C_SOURCE 1
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MS_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_EMU_ASAN 1
#endif
#endif

#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>

#if MS_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if !MS_EMU_ASM_SWITCH
#include <ucontext.h>
#endif

namespace ms_emu {
namespace {

struct Start {
  Fiber::Entry entry;
  void* arg;
  Context* self;
};

// The fiber's first frame: tells the sanitizer it arrived, then runs the entry (for good).
void fiber_thunk(Start* s) {
  fiber_started(*s->self);
  s->entry(s->arg);
  std::abort(); // entries never return: nothing to return to
}

#if MS_EMU_ASAN
Context* switching_from = nullptr; // the context being left (launches are serialised)
#endif

} // namespace
} // namespace ms_emu

#if MS_EMU_ASM_SWITCH
// ms_emu_switch_stack(save, load): pushes the callee-saved registers, MXCSR and the x87
// control word, stores rsp in *save, loads `load` and pops the same. A new fiber's stack is
// laid out as if it had switched away just before ms_emu_fiber_trampoline, which calls
// r12(r13). The trampoline ends backtraces (.cfi_undefined rip).
extern "C" void ms_emu_switch_stack(void** save, void* load);
extern "C" void ms_emu_fiber_trampoline();
__asm__(R"(
  .pushsection .text
  .globl ms_emu_switch_stack
  .hidden ms_emu_switch_stack
  .type ms_emu_switch_stack, @function
ms_emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ms_emu_switch_stack, .-ms_emu_switch_stack

  .globl ms_emu_fiber_trampoline
  .hidden ms_emu_fiber_trampoline
  .type ms_emu_fiber_trampoline, @function
ms_emu_fiber_trampoline:
  .cfi_startproc
  .cfi_undefined rip
  movq %r13, %rdi
  callq *%r12
  ud2
  .cfi_endproc
  .size ms_emu_fiber_trampoline, .-ms_emu_fiber_trampoline
  .popsection
)");
#endif

namespace ms_emu {

Context::Context() {
#if !MS_EMU_ASM_SWITCH
  uc = new ucontext_t{};
#endif
}

Context::~Context() {
#if !MS_EMU_ASM_SWITCH
  delete static_cast<ucontext_t*>(uc);
#endif
}

size_t default_stack_bytes() {
#if MS_EMU_ASAN
  return 512 * 1024;
#else
  return 128 * 1024;
#endif
}

Fiber::Fiber(Entry entry, void* arg, size_t stack_bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  stack_bytes = (stack_bytes + page - 1) / page * page;
  mapping_bytes_ = stack_bytes + page;
  mapping_ = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping_ == MAP_FAILED || mprotect(mapping_, page, PROT_NONE) != 0) {
    throw std::runtime_error("[metal-emulator] cannot map a fiber stack");
  }
  char* bottom = static_cast<char*>(mapping_) + page;
  ctx_.stack_bottom = bottom;
  ctx_.stack_size = stack_bytes;
  // The start record lives at the top of the stack; the fiber's frames go below it.
  auto top = reinterpret_cast<uintptr_t>(bottom + stack_bytes) - sizeof(Start);
  top &= ~uintptr_t(15);
  auto* start = new (reinterpret_cast<void*>(top)) Start{entry, arg, &ctx_};
#if MS_EMU_ASM_SWITCH
  void** sp = reinterpret_cast<void**>(top);
  *--sp = reinterpret_cast<void*>(&ms_emu_fiber_trampoline); // ret lands at a 16-byte boundary
  *--sp = nullptr;                                           // rbp
  *--sp = nullptr;                                           // rbx
  *--sp = reinterpret_cast<void*>(&fiber_thunk);             // r12
  *--sp = start;                                             // r13
  *--sp = nullptr;                                           // r14
  *--sp = nullptr;                                           // r15
  *--sp = reinterpret_cast<void*>(uintptr_t(0x037F) << 32 | 0x1F80); // x87 cw, MXCSR defaults
  ctx_.sp = sp;
#else
  auto* uc = static_cast<ucontext_t*>(ctx_.uc);
  getcontext(uc);
  uc->uc_stack.ss_sp = bottom;
  uc->uc_stack.ss_size = top - reinterpret_cast<uintptr_t>(bottom);
  uc->uc_link = nullptr;
  const auto p = reinterpret_cast<uintptr_t>(start);
  makecontext(uc, reinterpret_cast<void (*)()>(+[](unsigned hi, unsigned lo) {
                fiber_thunk(reinterpret_cast<Start*>(uintptr_t(hi) << 32 | lo));
              }),
              2, unsigned(p >> 32), unsigned(p & 0xffffffffu));
#endif
}

Fiber::~Fiber() {
  munmap(mapping_, mapping_bytes_);
}

void switch_context(Context& from, Context& to) {
#if MS_EMU_ASAN
  switching_from = &from;
  __sanitizer_start_switch_fiber(&from.fake_stack, to.stack_bottom, to.stack_size);
#endif
#if MS_EMU_ASM_SWITCH
  ms_emu_switch_stack(&from.sp, to.sp);
#else
  swapcontext(static_cast<ucontext_t*>(from.uc), static_cast<ucontext_t*>(to.uc));
#endif
#if MS_EMU_ASAN
  // back in `from`: learn the bounds of the stack that switched here (the OS thread's)
  Context* prev = switching_from;
  __sanitizer_finish_switch_fiber(from.fake_stack, &prev->stack_bottom, &prev->stack_size);
#endif
}

void fiber_started(Context& self) {
#if MS_EMU_ASAN
  Context* prev = switching_from;
  __sanitizer_finish_switch_fiber(self.fake_stack, &prev->stack_bottom, &prev->stack_size);
#else
  (void)self;
#endif
}

} // namespace ms_emu
