// CPU kernel settings exposed with the ops.
#include "cpu/kernels.h"
#include "cpu/thread_pool.h"
#include "ops.h"

namespace mlx_sparse {

int num_threads() {
  return cpu::num_threads();
}

void set_num_threads(int n) {
  cpu::set_num_threads(n);
}

std::string num_threads_env_problem() {
  return cpu::threads_env_problem();
}

const char* kernel_isa() {
  return cpu::kernel_isa();
}

} // namespace mlx_sparse
