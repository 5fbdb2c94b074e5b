// A C++ stand-in for the Metal Shading Language, just enough for `g++ -fsyntax-only` to
// type-check metal/*.metal and every kernel instantiation on Linux (there is no Metal
// compiler off macOS). Reached through the fake <metal_stdlib> in include/.
// Address spaces become qualifiers so that losing one is an error, as on Metal:
// device -> volatile (a device pointer passed where a plain one is expected fails),
// constant -> const; thread and threadgroup -> nothing (they are not told apart).
#pragma once

#include <cfloat> // FLT_MAX, which <metal_stdlib> defines too
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

using uint = unsigned int;
using ushort = unsigned short;
using uchar = unsigned char;
using half = _Float16;

// bfloat: storage only; conversions to float are implicit, from float explicit (our
// kernels convert with static_cast). Volatile overloads stand for device memory.
struct bfloat {
  uint16_t bits = 0;
  bfloat() = default;
  bfloat(const bfloat&) = default;
  bfloat(const volatile bfloat& o) : bits(o.bits) {}
  explicit bfloat(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    bits = static_cast<uint16_t>(u >> 16);
  }
  bfloat& operator=(const bfloat&) = default;
  void operator=(const bfloat& o) volatile {
    bits = o.bits;
  }
  operator float() const {
    const uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  operator float() const volatile { return float(bfloat(*this)); }
};

// Vector types: only the members (x, y, z, w); our kernels do no vector arithmetic.
template <typename T, int N>
struct ms_vec;
template <typename T>
struct ms_vec<T, 2> { T x, y; };
template <typename T>
struct ms_vec<T, 3> { T x, y, z; };
template <typename T>
struct ms_vec<T, 4> { T x, y, z, w; };
#define MS_SHIM_VECTORS(T)   \
  using T##2 = ms_vec<T, 2>; \
  using T##3 = ms_vec<T, 3>; \
  using T##4 = ms_vec<T, 4>;
MS_SHIM_VECTORS(float)
MS_SHIM_VECTORS(half)
MS_SHIM_VECTORS(bfloat)
MS_SHIM_VECTORS(int)
MS_SHIM_VECTORS(uint)
MS_SHIM_VECTORS(short)
MS_SHIM_VECTORS(ushort)
#undef MS_SHIM_VECTORS

namespace metal {

using std::abs;
using std::exp;
using std::fma;
using std::max;
using std::min;
using std::sqrt;

// integer functions of 32 bits (Metal's popcount and ctz take any integer type; ours uint)
inline uint popcount(uint x) { return static_cast<uint>(__builtin_popcount(x)); }
inline uint ctz(uint x) { return x == 0 ? 32u : static_cast<uint>(__builtin_ctz(x)); }

// metal::fast: the fast-math variants (the kernels use fast::exp, as CUDA uses __expf)
namespace fast {
using std::exp;
} // namespace fast

template <typename To, typename From>
To as_type(From f) {
  static_assert(sizeof(To) == sizeof(From), "as_type needs types of one size");
  To t;
  std::memcpy(static_cast<void*>(&t), static_cast<const void*>(&f), sizeof(To));
  return t;
}

enum class mem_flags { mem_none, mem_device, mem_threadgroup, mem_texture };
inline void threadgroup_barrier(mem_flags) {}
inline void simdgroup_barrier(mem_flags) {}

enum memory_order { memory_order_relaxed };

// Metal has atomic int, uint and (device) float; no 64-bit atomics.
template <typename T>
struct atomic {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, uint> || std::is_same_v<T, float>,
                "Metal atomics are int, uint or float only (no 64-bit atomics)");
  T value;
};
using atomic_int = atomic<int>;
using atomic_uint = atomic<uint>;
using atomic_float = atomic<float>;

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

// SIMD-group functions take scalars of 32 bits or fewer (MLX splits 64-bit shuffles
// through uint2, see its kernels/utils.h); a 64-bit operand is an error here too.
template <typename T>
constexpr bool simd_scalar = std::is_arithmetic_v<T> && sizeof(T) <= 4;
#define MS_SHIM_SIMD_LANE(name)                                            \
  template <typename T>                                                    \
  T name(T v, ushort) {                                                    \
    static_assert(simd_scalar<T> || std::is_same_v<T, uint2> ||            \
                      std::is_same_v<T, int2> || std::is_same_v<T, bfloat>, \
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
MS_SHIM_SIMD_REDUCE(simd_sum)
MS_SHIM_SIMD_REDUCE(simd_max)
MS_SHIM_SIMD_REDUCE(simd_min)
MS_SHIM_SIMD_REDUCE(simd_prefix_inclusive_sum)
MS_SHIM_SIMD_REDUCE(simd_prefix_exclusive_sum)
#undef MS_SHIM_SIMD_REDUCE

} // namespace metal

// Address spaces (see the top of this file) and attributes: `[[buffer(0)]]` and the like
// become `[[]]`, which C++ accepts; `[[host_name("x")]]` too, unless MS_LIST_HOST_NAMES
// asks for the names in the preprocessed output (scripts/check_metal.sh compares them
// with the CUDA kernels' names).
#define device volatile
#define constant const
#define thread
#define threadgroup
#define kernel
#define buffer(n)
#ifdef MS_LIST_HOST_NAMES
#define host_name(x) ms_host_name = x
#else
#define host_name(x)
#endif
#define thread_position_in_grid
#define threads_per_grid
#define thread_position_in_threadgroup
#define thread_index_in_threadgroup
#define threadgroup_position_in_grid
#define threadgroups_per_grid
#define threads_per_threadgroup
#define thread_index_in_simdgroup
#define simdgroup_index_in_threadgroup
#define simdgroups_per_threadgroup
#define threads_per_simdgroup
