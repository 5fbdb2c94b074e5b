// One-register vectors for the block kernels (bsr_spmm, bsr_sddmm) through the GCC/Clang
// vector extension: 32 bytes in the AVX2 build, 16 in the baseline one. Explicit vectors keep
// a register tile's accumulators in registers, where plain arrays of 64 floats went through
// the stack (about 40x slower).
#pragma once

#include <type_traits>

#include "cpu/kernels/common.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

#if defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <typename A>
struct vec;
template <>
struct vec<float> {
  typedef float type __attribute__((vector_size(kVecBytes)));
};
template <>
struct vec<double> {
  typedef double type __attribute__((vector_size(kVecBytes)));
};
template <typename A>
using vec_t = typename vec<A>::type;

template <typename T, typename A>
inline vec_t<A> load(const T* p) {
  vec_t<A> v;
  if constexpr (std::is_same_v<T, A>) {
    __builtin_memcpy(&v, p, sizeof(v));
  } else {
    for (int l = 0; l < int(sizeof(v) / sizeof(A)); ++l) {
      v[l] = static_cast<A>(p[l]);
    }
  }
  return v;
}

// The sum of a vector's lanes.
template <typename A>
inline A lane_sum(vec_t<A> v) {
  A s = 0;
  for (int l = 0; l < int(sizeof(v) / sizeof(A)); ++l) {
    s += v[l];
  }
  return s;
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
