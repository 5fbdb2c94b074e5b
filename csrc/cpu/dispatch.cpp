// Run-time choice between the baseline and the AVX2+FMA builds of the CPU kernels.
#include "cpu/kernels.h"

#include <cstdlib>
#include <cstring>

namespace mlx_sparse::cpu {

namespace {
bool use_avx2() {
#if defined(MLX_SPARSE_HAVE_AVX2) && (defined(__x86_64__) || defined(_M_X64))
  // MLX_SPARSE_ISA=base forces the portable kernels (used by tests to cover both builds).
  static const bool on = [] {
    const char* env = std::getenv("MLX_SPARSE_ISA");
    if (env && std::strcmp(env, "base") == 0) {
      return false;
    }
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c");
  }();
  return on;
#else
  return false;
#endif
}
} // namespace

#if defined(MLX_SPARSE_HAVE_AVX2)
#define MLX_SPARSE_DISPATCH(name, P)                       \
  void name(const P& p) noexcept {                         \
    use_avx2() ? avx2::name(p) : base::name(p);            \
  }
#else
#define MLX_SPARSE_DISPATCH(name, P) \
  void name(const P& p) noexcept {  \
    base::name(p);                   \
  }
#endif
MLX_SPARSE_CPU_KERNELS(MLX_SPARSE_DISPATCH)
#undef MLX_SPARSE_DISPATCH

const char* kernel_isa() {
  return use_avx2() ? "avx2" : "base";
}

} // namespace mlx_sparse::cpu
