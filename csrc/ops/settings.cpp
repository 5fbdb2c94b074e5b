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

std::vector<std::string> pool_env_problems() {
  std::vector<std::string> problems;
  for (auto problem : {cpu::threads_env_problem(), cpu::spin_env_problem()}) {
    if (!problem.empty()) {
      problems.push_back(problem);
    }
  }
  return problems;
}

const char* kernel_isa() {
  return cpu::kernel_isa();
}

} // namespace mlx_sparse
