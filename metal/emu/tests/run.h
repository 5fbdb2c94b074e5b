// What the registry tests share: kernels launched by host name with their buffers in
// [[buffer(i)]] order, as the emulator launcher binds them, and the hosts' grid helpers.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "registry.h"
#include "runtime.h" // half, bfloat

namespace ms_emu_test {

constexpr uint32_t kThreads = 256; // kBlock in csrc/gpu/host.h

inline uint32_t blocks(int64_t threads, int64_t block = kThreads) {
  return uint32_t(std::max<int64_t>(1, (threads + block - 1) / block));
}

// A buffer's data, or a value bound with set_bytes.
template <typename V>
void* buf(const V& v) {
  return const_cast<void*>(static_cast<const void*>(v.data()));
}
template <typename T>
void* bytes(const T& x) {
  return const_cast<T*>(&x);
}

inline void run(const std::string& name, ms_emu::Dim3 groups, ms_emu::Dim3 threads,
                std::vector<void*> args, ms_emu::Order order = ms_emu::Order::forward) {
  ms_emu::run_kernel(name, groups, threads, args.data(), args.size(), order);
}

// Element by element, through float (half and bfloat16 convert from float explicitly).
template <typename To, typename From>
std::vector<To> convert(const std::vector<From>& v) {
  std::vector<To> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = static_cast<To>(static_cast<float>(v[i]));
  }
  return out;
}

template <typename T>
const char* value_name() {
  return sizeof(T) == 4 ? "float32" : std::is_same_v<T, half> ? "float16" : "bfloat16";
}
template <typename I>
const char* index_name() {
  return sizeof(I) == 8 ? "int64" : "int32";
}

template <typename T>
float tolerance() {
  return sizeof(T) == 4 ? 1e-4f : 3e-2f;
}

// Inclusive prefix sum of v[0, count) in place, as csrc/gpu/eval_common.h runs it.
template <typename I>
void inclusive_scan(std::vector<I>& v, int64_t count, ms_emu::Order order) {
  const std::string it = index_name<I>();
  const int64_t groups = (count + 1023) / 1024;
  std::vector<I> totals(size_t(std::max<int64_t>(groups, 1)));
  run("scan_blocks_" + it, {uint32_t(groups)}, {1024}, {buf(v), buf(totals), bytes(count)}, order);
  run("scan_totals_" + it, {1}, {1024}, {buf(totals), bytes(groups)}, order);
  run("scan_add_" + it, {blocks(count)}, {kThreads}, {buf(v), buf(totals), bytes(count)}, order);
}

} // namespace ms_emu_test
