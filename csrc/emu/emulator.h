// The Metal emulator as a backend for tests on Linux. In a build with it
// (-DMLX_SPARSE_METAL_EMULATOR=ON), metal_emulator(true) makes every primitive evaluated on
// the CPU run its Metal kernels instead, through the same GPU evaluation as CUDA and Metal
// (gpu/eval.h) and on the emulator of metal/emu: the real launch plans, on Metal's
// execution model. float64, which Metal lacks, stays on the CPU kernels.
#pragma once

#include <string>
#include <vector>

#include "gpu/eval.h"

namespace mlx_sparse::emu {

// Whether this build has the emulator, and whether it is switched on.
bool available();
bool enabled();
// Switches it on or off; throws std::runtime_error in a build without it.
void set_enabled(bool on);
// The errors of emulated kernels since the last call (divergence, a kernel's exception), each
// naming the kernel; kernels run on MLX's stream thread, where nothing may throw.
std::vector<std::string> take_errors();
// The host names of the kernels that have run, and of every kernel the emulator has.
std::vector<std::string> kernels_run();
std::vector<std::string> kernels();

#ifdef MLX_SPARSE_METAL_EMULATOR
// A launcher that queues each kernel on the primitive's CPU stream, to run on the emulator.
std::unique_ptr<gpu::Launch> launch(mlx::core::Stream s);
bool has_float64(const std::vector<array>& in, const std::vector<array>& outs);
#endif

// Called first by each eval_cpu: true when the emulator has evaluated the primitive.
template <typename P, typename Out>
bool emulated(P& p, const std::vector<array>& in, Out& out) {
#ifdef MLX_SPARSE_METAL_EMULATOR
  if constexpr (std::is_same_v<Out, array>) {
    if (!enabled() || has_float64(in, {out})) {
      return false;
    }
  } else if (!enabled() || has_float64(in, out)) {
    return false;
  }
  gpu::eval(*launch(p.stream()), p, in, out);
  return true;
#else
  (void)p, (void)in, (void)out;
  return false;
#endif
}

} // namespace mlx_sparse::emu
