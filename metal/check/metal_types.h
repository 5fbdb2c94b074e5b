// Metal's value types, vectors and math functions as C++, shared by the type-check stand-in
// (metal_shim.h) and the executing emulator (metal/emu): what neither needs to synchronise.
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

using ulong = unsigned long;

// Vector types: the members (x, y, z, w) and v[i]; our kernels do no vector arithmetic.
template <typename T, int N>
struct ms_vec;
template <typename T>
struct ms_vec<T, 2> {
  T x, y;
  T& operator[](int i) { return i == 0 ? x : y; }
  const T& operator[](int i) const { return i == 0 ? x : y; }
};
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
MS_SHIM_VECTORS(ulong)
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

// Operands of SIMD-group functions: reductions take scalars of 32 bits or fewer; shuffles also
// take 2-vectors and bfloat (MLX moves 64-bit values through uint2, see its kernels/utils.h).
template <typename T>
constexpr bool simd_scalar = std::is_arithmetic_v<T> && sizeof(T) <= 4;
template <typename T>
constexpr bool simd_lane_operand = simd_scalar<T> || std::is_same_v<T, uint2> ||
                                   std::is_same_v<T, int2> || std::is_same_v<T, bfloat>;

// simd_ballot's result: bit i for lane i; all() and any() look at the lanes the SIMD group
// has (its active threads), which the emulator records beside the bits.
class simd_vote {
 public:
  using vote_t = uint64_t;
  explicit constexpr simd_vote(vote_t v = 0, vote_t lanes = 0xffffffffu) : v_(v), lanes_(lanes) {}
  explicit constexpr operator vote_t() const { return v_; }
  constexpr bool all() const { return (v_ & lanes_) == lanes_; }
  constexpr bool any() const { return v_ != 0; }

 private:
  vote_t v_, lanes_;
};

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

// simdgroup_matrix<T, 8, 8>: one 8 x 8 matrix held by the 32 lanes of a SIMD group, two
// elements each (thread_elements()): lane l holds row simdgroup_matrix_row(l), columns
// simdgroup_matrix_col(l) and + 1, the layout MLX's steel kernels rely on (steel/gemm/mma.h,
// get_coord). The functions (load, store, multiply) are the stand-in's or the emulator's.
template <typename T, int Rows, int Cols>
struct simdgroup_matrix {
  static_assert(Rows == 8 && Cols == 8, "simdgroup_matrix: Apple GPUs have 8 x 8 matrices only");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, half> || std::is_same_v<T, bfloat>,
                "simdgroup_matrix holds float, half or bfloat");
  using value_type = T;
  ms_vec<T, 2> elements{};
  ms_vec<T, 2>& thread_elements() { return elements; }
  const ms_vec<T, 2>& thread_elements() const { return elements; }
};
using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;
using simdgroup_bfloat8x8 = simdgroup_matrix<bfloat, 8, 8>;

constexpr int simdgroup_matrix_row(uint lane) {
  return int((lane / 4) & 4) + int((lane / 2) % 4);
}
constexpr int simdgroup_matrix_col(uint lane) {
  return int((lane / 4) & 2) * 2 + int(lane % 2) * 2;
}

template <typename T, int Rows, int Cols>
simdgroup_matrix<T, Rows, Cols> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, Rows, Cols> m;
  m.elements = {value, value};
  return m;
}

// What Metal's simdgroup_load/store accept: a pointer to the matrix's own element type.
template <typename T, typename P>
constexpr bool simdgroup_matrix_pointer = std::is_same_v<std::remove_cv_t<P>, T>;

enum class mem_flags { mem_none, mem_device, mem_threadgroup, mem_texture };
enum memory_order { memory_order_relaxed };

} // namespace metal
