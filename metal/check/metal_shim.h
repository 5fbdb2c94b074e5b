// A C++ stand-in for the Metal Shading Language, just enough for `g++ -fsyntax-only` to
// type-check metal/*.metal and every kernel instantiation on Linux (there is no Metal
// compiler off macOS). Reached through the fake <metal_stdlib> in include/.
// Address spaces become qualifiers so that losing one is an error, as on Metal:
// device -> volatile (a device pointer passed where a plain one is expected fails),
// constant -> const; thread and threadgroup -> nothing (they are not told apart).
#pragma once

#include "metal_types.h"

namespace metal {

inline void threadgroup_barrier(mem_flags) {}
inline void simdgroup_barrier(mem_flags) {}

// Atomics run unsynchronised here: this stand-in is only type-checked (atomic<T>: metal_types.h).
template <typename T>
T atomic_fetch_add_explicit(volatile atomic<T>* object, std::type_identity_t<T> operand,
                            memory_order) {
  const T old = object->value;
  object->value = old + operand;
  return old;
}
template <typename T>
T atomic_fetch_or_explicit(volatile atomic<T>* object, std::type_identity_t<T> operand,
                           memory_order) {
  static_assert(std::is_integral_v<T>, "Metal's atomic_fetch_or takes int or uint");
  const T old = object->value;
  object->value = old | operand;
  return old;
}
template <typename T>
T atomic_load_explicit(const volatile atomic<T>* object, memory_order) {
  return object->value;
}
template <typename T>
void atomic_store_explicit(volatile atomic<T>* object, std::type_identity_t<T> v,
                           memory_order) {
  object->value = v;
}

template <typename T>
bool atomic_compare_exchange_weak_explicit(volatile atomic<T>* object, T* expected,
                                           std::type_identity_t<T> desired, memory_order,
                                           memory_order) {
  if (object->value == *expected) {
    object->value = desired;
    return true;
  }
  *expected = object->value;
  return false;
}

// SIMD-group functions: a 64-bit operand is an error here too (see metal_types.h).
#define MS_SHIM_SIMD_LANE(name)                                            \
  template <typename T>                                                    \
  T name(T v, ushort) {                                                    \
    static_assert(simd_lane_operand<T>,                                    \
                  #name ": 64-bit scalars are not supported on Metal");    \
    return v;                                                              \
  }
MS_SHIM_SIMD_LANE(simd_shuffle)
MS_SHIM_SIMD_LANE(simd_shuffle_xor)
MS_SHIM_SIMD_LANE(simd_shuffle_up)
MS_SHIM_SIMD_LANE(simd_shuffle_down)
MS_SHIM_SIMD_LANE(simd_broadcast)
#undef MS_SHIM_SIMD_LANE
#define MS_SHIM_SIMD_REDUCE(name)                                               \
  template <typename T>                                                         \
  T name(T v) {                                                                 \
    static_assert(simd_scalar<T>, #name ": 64-bit scalars are not supported"); \
    return v;                                                                   \
  }
inline bool simd_any(bool v) { return v; }
inline bool simd_all(bool v) { return v; }
inline simd_vote simd_ballot(bool v) { return simd_vote(v ? 1 : 0); }
MS_SHIM_SIMD_REDUCE(simd_sum)
MS_SHIM_SIMD_REDUCE(simd_max)
MS_SHIM_SIMD_REDUCE(simd_min)
MS_SHIM_SIMD_REDUCE(simd_prefix_inclusive_sum)
MS_SHIM_SIMD_REDUCE(simd_prefix_exclusive_sum)
#undef MS_SHIM_SIMD_REDUCE

// simdgroup_matrix functions (the type is in metal_types.h): signatures and type rules.
template <typename T, int R, int C, typename P>
void simdgroup_load(simdgroup_matrix<T, R, C>& d, P* src, ulong elements_per_row = C,
                    ulong2 matrix_origin = {0, 0}, bool transpose_matrix = false) {
  static_assert(simdgroup_matrix_pointer<T, P>, "simdgroup_load: the pointer's type must be the matrix's");
  (void)elements_per_row, (void)matrix_origin, (void)transpose_matrix;
  d.elements.x = src[0];
}
template <typename T, int R, int C, typename P>
void simdgroup_store(const simdgroup_matrix<T, R, C>& a, P* dst, ulong elements_per_row = C,
                     ulong2 matrix_origin = {0, 0}, bool transpose_matrix = false) {
  static_assert(simdgroup_matrix_pointer<T, P>, "simdgroup_store: the pointer's type must be the matrix's");
  (void)elements_per_row, (void)matrix_origin, (void)transpose_matrix;
  dst[0] = a.elements.x;
}
template <typename D, typename A, typename B, typename Cm>
void simdgroup_multiply_accumulate(simdgroup_matrix<D, 8, 8>&, const simdgroup_matrix<A, 8, 8>&,
                                   const simdgroup_matrix<B, 8, 8>&, const simdgroup_matrix<Cm, 8, 8>&) {}
template <typename D, typename A, typename B>
void simdgroup_multiply(simdgroup_matrix<D, 8, 8>&, const simdgroup_matrix<A, 8, 8>&,
                        const simdgroup_matrix<B, 8, 8>&) {}

} // namespace metal

// Address spaces (see the top of this file); attributes in metal_attributes.h.
#define device volatile
#define constant const
#define thread
#define threadgroup
#include "metal_attributes.h"
