// The emulator's entry for host code (csrc/emu/emulator.cpp), in plain types: the Metal
// stand-in types of runtime.h stay out of translation units that include MLX.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ms_emu::host {

// Runs kernel `name` (a [[host_name]]) over groups[0..2] threadgroups of threads[0..2]
// threads; args[i] is what the host bound at [[buffer(i)]]. Throws std::runtime_error (the
// message names the kernel) for an unknown kernel, divergence or an error in the kernel.
void run_kernel(const std::string& name, const unsigned groups[3], const unsigned threads[3],
                void* const* args, size_t n_args, bool reverse);
std::vector<std::string> kernel_names();

} // namespace ms_emu::host
