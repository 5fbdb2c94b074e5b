// host.h over the registry: plain arrays in, ms_emu::Error (a std::runtime_error) out.
#include "host.h"

#include "registry.h"

namespace ms_emu::host {

void run_kernel(const std::string& name, const unsigned groups[3], const unsigned threads[3],
                void* const* args, size_t n_args, bool reverse) {
  ms_emu::run_kernel(name, {groups[0], groups[1], groups[2]},
                     {threads[0], threads[1], threads[2]}, args, n_args,
                     reverse ? Order::reverse : Order::forward);
}

std::vector<std::string> kernel_names() {
  return ms_emu::kernel_names();
}

} // namespace ms_emu::host
