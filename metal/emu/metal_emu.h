// An executing C++ stand-in for the Metal Shading Language: metal/*.metal compile against it
// (through include/<metal_stdlib>) and run on the scheduler of runtime.h. Barriers and
// SIMD-group functions are real rendezvous among the threads of one threadgroup; device
// atomics are real atomics; threadgroup variables are shared by the threadgroup's threads.
#pragma once

#include <atomic>
#include <string>
#include <type_traits>

#include "runtime.h"

namespace ms_emu {

template <typename T>
Arrival arrive(const char* op, T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(Arrival::value));
  Arrival a{op, typeid(T).hash_code(), {}};
  std::memcpy(a.value, &v, sizeof(T));
  return a;
}

// The value lane `lane` brought; reading a lane the SIMD group lacks is an error.
template <typename T>
T take(const Arrival* const* lanes, uint lane, const char* op) {
  if (lane >= uint(kSimdWidth) || lanes[lane] == nullptr) {
    throw Error(std::string(op) + " reads lane " + std::to_string(lane) +
                ", which this SIMD group does not have");
  }
  T v;
  std::memcpy(&v, lanes[lane]->value, sizeof(T));
  return v;
}

// Folds `f` over the lanes [0, end) that exist.
template <typename T, typename F>
T fold(const Arrival* const* lanes, uint end, T init, F f) {
  for (uint i = 0; i < end && lanes[i] != nullptr; ++i) {
    init = f(init, take<T>(lanes, i, ""));
  }
  return init;
}

} // namespace ms_emu

namespace metal {

inline void threadgroup_barrier(mem_flags) {
  ms_emu::threadgroup_rendezvous();
}
inline void simdgroup_barrier(mem_flags) {
  ms_emu::simd_rendezvous(ms_emu::arrive("simdgroup_barrier", 0));
}

// Device atomics: relaxed, as Metal's are (atomic<T> is in metal_types.h).
template <typename T>
T atomic_fetch_add_explicit(atomic<T>* object, std::type_identity_t<T> operand, memory_order) {
  return std::atomic_ref<T>(object->value).fetch_add(operand, std::memory_order_relaxed);
}
template <typename T>
T atomic_fetch_or_explicit(atomic<T>* object, std::type_identity_t<T> operand, memory_order) {
  return std::atomic_ref<T>(object->value).fetch_or(operand, std::memory_order_relaxed);
}
template <typename T>
T atomic_load_explicit(atomic<T>* object, memory_order) {
  return std::atomic_ref<T>(object->value).load(std::memory_order_relaxed);
}
template <typename T>
void atomic_store_explicit(atomic<T>* object, std::type_identity_t<T> v, memory_order) {
  std::atomic_ref<T>(object->value).store(v, std::memory_order_relaxed);
}
template <typename T>
bool atomic_compare_exchange_weak_explicit(atomic<T>* object, T* expected,
                                           std::type_identity_t<T> desired, memory_order,
                                           memory_order) {
  return std::atomic_ref<T>(object->value)
      .compare_exchange_weak(*expected, desired, std::memory_order_relaxed);
}

// SIMD-group functions: every lane of the SIMD group brings its value to one rendezvous.
#define MS_EMU_LANE_FN(name, source)                                            \
  template <typename T>                                                         \
  T name(T v, ushort arg) {                                                     \
    static_assert(simd_lane_operand<T>, #name ": 64-bit scalars are not supported"); \
    const auto lanes = ms_emu::simd_rendezvous(ms_emu::arrive(#name, v));       \
    const uint me = ms_emu::lane_id();                                          \
    (void)me;                                                                   \
    return source;                                                              \
  }
MS_EMU_LANE_FN(simd_shuffle, ms_emu::take<T>(lanes, arg, "simd_shuffle"))
MS_EMU_LANE_FN(simd_broadcast, ms_emu::take<T>(lanes, arg, "simd_broadcast"))
MS_EMU_LANE_FN(simd_shuffle_xor, ms_emu::take<T>(lanes, me ^ arg, "simd_shuffle_xor"))
MS_EMU_LANE_FN(simd_shuffle_up,
               me >= arg ? ms_emu::take<T>(lanes, me - arg, "simd_shuffle_up") : v)
MS_EMU_LANE_FN(simd_shuffle_down, me + arg < uint(ms_emu::kSimdWidth)
                                      ? ms_emu::take<T>(lanes, me + arg, "simd_shuffle_down")
                                      : v)
#undef MS_EMU_LANE_FN

#define MS_EMU_FOLD_FN(name, end, init, op)                            \
  template <typename T>                                                   \
  T name(T v) {                                                           \
    static_assert(simd_scalar<T>, #name ": 64-bit scalars are not supported"); \
    const auto lanes = ms_emu::simd_rendezvous(ms_emu::arrive(#name, v)); \
    const uint me = ms_emu::lane_id();                                    \
    (void)me;                                                             \
    return ms_emu::fold<T>(lanes, end, init, [](T a, T b) { return op; }); \
  }
MS_EMU_FOLD_FN(simd_sum, 32u, T(0), a + b)
MS_EMU_FOLD_FN(simd_max, 32u, v, a > b ? a : b)
MS_EMU_FOLD_FN(simd_min, 32u, v, a < b ? a : b)
MS_EMU_FOLD_FN(simd_prefix_inclusive_sum, me + 1, T(0), a + b)
MS_EMU_FOLD_FN(simd_prefix_exclusive_sum, me, T(0), a + b)
#undef MS_EMU_FOLD_FN

inline bool simd_any(bool v) {
  const auto lanes = ms_emu::simd_rendezvous(ms_emu::arrive("simd_any", v));
  return ms_emu::fold<bool>(lanes, 32u, false, [](bool a, bool b) { return a || b; });
}
// Bit i for lane i (0 for lanes the SIMD group lacks).
inline simd_vote simd_ballot(bool v) {
  const auto lanes = ms_emu::simd_rendezvous(ms_emu::arrive("simd_ballot", v));
  simd_vote::vote_t bits = 0, present = 0;
  for (uint i = 0; i < 32u && lanes[i] != nullptr; ++i) {
    bits |= simd_vote::vote_t(ms_emu::take<bool>(lanes, i, "simd_ballot")) << i;
    present |= simd_vote::vote_t(1) << i;
  }
  return simd_vote(bits, present);
}
inline bool simd_all(bool v) {
  const auto lanes = ms_emu::simd_rendezvous(ms_emu::arrive("simd_all", v));
  return ms_emu::fold<bool>(lanes, 32u, true, [](bool a, bool b) { return a && b; });
}

// simdgroup_matrix (the type is in metal_types.h). Every lane of a full SIMD group must take
// part, as on Metal: each function is a rendezvous, and a lane the SIMD group lacks is an
// error. Products accumulate in float and round once to the result's type.
} // namespace metal

namespace ms_emu {
template <typename T>
void matrix_of(const metal::simdgroup_matrix<T, 8, 8>& m, float (&out)[8][8], const char* op) {
  // each lane brings its two elements as floats (bfloat is not trivially copyable)
  const auto lanes = simd_rendezvous(arrive(op, float2{float(m.elements.x), float(m.elements.y)}));
  for (uint l = 0; l < uint(kSimdWidth); ++l) {
    const auto e = take<float2>(lanes, l, op);
    out[metal::simdgroup_matrix_row(l)][metal::simdgroup_matrix_col(l)] = e.x;
    out[metal::simdgroup_matrix_row(l)][metal::simdgroup_matrix_col(l) + 1] = e.y;
  }
}
// Offset of element (row, col) of the 8 x 8 tile at `origin` (x: column, y: row), read
// transposed when asked.
inline ulong matrix_offset(int row, int col, ulong per_row, ulong2 origin, bool transpose) {
  return transpose ? (origin.y + ulong(col)) * per_row + origin.x + ulong(row)
                   : (origin.y + ulong(row)) * per_row + origin.x + ulong(col);
}
} // namespace ms_emu

namespace metal {

template <typename T, int R, int C, typename P>
void simdgroup_load(simdgroup_matrix<T, R, C>& d, P* src, ulong elements_per_row = C,
                    ulong2 matrix_origin = {0, 0}, bool transpose_matrix = false) {
  static_assert(simdgroup_matrix_pointer<T, P>, "simdgroup_load: the pointer's type must be the matrix's");
  ms_emu::simd_rendezvous(ms_emu::arrive("simdgroup_load", 0));
  const uint l = ms_emu::lane_id();
  for (int j = 0; j < 2; ++j) {
    d.elements[j] = src[ms_emu::matrix_offset(simdgroup_matrix_row(l), simdgroup_matrix_col(l) + j,
                                              elements_per_row, matrix_origin, transpose_matrix)];
  }
}
template <typename T, int R, int C, typename P>
void simdgroup_store(const simdgroup_matrix<T, R, C>& a, P* dst, ulong elements_per_row = C,
                     ulong2 matrix_origin = {0, 0}, bool transpose_matrix = false) {
  static_assert(simdgroup_matrix_pointer<T, P>, "simdgroup_store: the pointer's type must be the matrix's");
  ms_emu::simd_rendezvous(ms_emu::arrive("simdgroup_store", 0));
  const uint l = ms_emu::lane_id();
  for (int j = 0; j < 2; ++j) {
    dst[ms_emu::matrix_offset(simdgroup_matrix_row(l), simdgroup_matrix_col(l) + j,
                              elements_per_row, matrix_origin, transpose_matrix)] = a.elements[j];
  }
}
template <typename D, typename A, typename B, typename Cm>
void simdgroup_multiply_accumulate(simdgroup_matrix<D, 8, 8>& d, const simdgroup_matrix<A, 8, 8>& a,
                                   const simdgroup_matrix<B, 8, 8>& b,
                                   const simdgroup_matrix<Cm, 8, 8>& c) {
  float am[8][8], bm[8][8], cm[8][8];
  ms_emu::matrix_of(a, am, "simdgroup_multiply_accumulate");
  ms_emu::matrix_of(b, bm, "simdgroup_multiply_accumulate");
  ms_emu::matrix_of(c, cm, "simdgroup_multiply_accumulate");
  const uint l = ms_emu::lane_id();
  const int row = simdgroup_matrix_row(l), col = simdgroup_matrix_col(l);
  for (int j = 0; j < 2; ++j) {
    float acc = cm[row][col + j];
    for (int k = 0; k < 8; ++k) {
      acc += am[row][k] * bm[k][col + j];
    }
    d.elements[j] = static_cast<D>(acc);
  }
}
template <typename D, typename A, typename B>
void simdgroup_multiply(simdgroup_matrix<D, 8, 8>& d, const simdgroup_matrix<A, 8, 8>& a,
                        const simdgroup_matrix<B, 8, 8>& b) {
  simdgroup_multiply_accumulate(d, a, b, make_filled_simdgroup_matrix<float, 8, 8>(0.0f));
}

} // namespace metal

// Address spaces: device and constant memory are plain host memory (buffers are checked by
// AddressSanitizer, see scripts/metal_emulator_tests.sh); threadgroup and thread pointers are
// plain pointers. A threadgroup storage declaration is rewritten to a static by
// scripts/metal_emulator_kernels.py (threadgroups run one after another, so one copy serves
// each in turn): compile the rewritten sources, not metal/ itself.
#define device
#define constant const
#define thread
#define threadgroup
#include "../check/metal_attributes.h"
