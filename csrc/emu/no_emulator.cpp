// Built without the Metal emulator (the default): it cannot be switched on.
#include <stdexcept>

#include "emu/emulator.h"

namespace mlx_sparse::emu {

bool available() {
  return false;
}
bool enabled() {
  return false;
}
void set_enabled(bool on) {
  if (on) {
    throw std::runtime_error(
        "[metal_emulator] this build of mlx_sparse has no Metal emulator; rebuild with "
        "pip install -e \".[cpu,test]\" -Ccmake.define.MLX_SPARSE_METAL_EMULATOR=ON");
  }
}
std::vector<std::string> take_errors() {
  return {};
}
std::vector<std::string> kernels_run() {
  return {};
}
std::vector<std::string> kernels() {
  return {};
}

} // namespace mlx_sparse::emu
