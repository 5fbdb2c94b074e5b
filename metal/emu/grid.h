// What a host needs to launch on the emulator, free of the Metal stand-in's types (so that
// registry.h can be included beside MLX): the grid's extents, the turn order, the error.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace ms_emu {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
};

// Order in which the threads of a threadgroup take their turns between rendezvous: running
// both shows a missing barrier whichever side of it the reader is on.
enum class Order { forward, reverse };

// A failed run: divergence, a kernel's exception; the message names the kernel.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

} // namespace ms_emu
