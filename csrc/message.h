// Error messages built without iostreams: numeric ostream formatting from this module
// crashed inside libstdc++'s locale code on the CUDA machine's build (a segfault in
// ostream::_M_insert<long>), so messages are assembled from std::to_string instead.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "mlx/dtype.h"

namespace mlx_sparse {

class Message {
 public:
  Message& operator<<(const std::string& s) {
    text_ += s;
    return *this;
  }
  Message& operator<<(const char* s) {
    text_ += s;
    return *this;
  }
  Message& operator<<(char c) {
    text_ += c;
    return *this;
  }
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Message& operator<<(N v) {
    text_ += std::to_string(v);
    return *this;
  }
  Message& operator<<(mlx::core::Dtype t);
  const std::string& str() const {
    return text_;
  }

 private:
  std::string text_;
};

inline Message& Message::operator<<(mlx::core::Dtype t) {
  namespace mx = mlx::core;
  const std::pair<mx::Dtype, const char*> names[] = {
      {mx::float32, "float32"}, {mx::float16, "float16"}, {mx::bfloat16, "bfloat16"},
      {mx::float64, "float64"}, {mx::int8, "int8"},       {mx::int16, "int16"},
      {mx::int32, "int32"},     {mx::int64, "int64"},     {mx::uint8, "uint8"},
      {mx::uint16, "uint16"},   {mx::uint32, "uint32"},   {mx::uint64, "uint64"},
      {mx::bool_, "bool"},      {mx::complex64, "complex64"}};
  const char* name = "an unknown dtype";
  for (const auto& [dtype, n] : names) {
    if (t == dtype) {
      name = n;
    }
  }
  text_ += name;
  return *this;
}

} // namespace mlx_sparse
