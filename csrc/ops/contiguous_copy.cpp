// contiguous_copy: an array made row-major by a tiled, threaded copy on CPU streams (the
// kernels' operands: a transposed or broadcast one is common, e.g. X @ A's X^T or a sum's
// cotangent), MLX's contiguous elsewhere. The identity to every transform.
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;

namespace detail {

array contiguous_copy(const array& x, mx::Stream s) {
  if (s.device != mx::Device::cpu || x.ndim() > kCopyDims || x.itemsize() > 8) {
    return mx::contiguous(x, false, s);
  }
  return array(x.shape(), x.dtype(), std::make_shared<ContiguousCopy>(s), {x});
}

} // namespace detail

std::vector<array> ContiguousCopy::vjp(const std::vector<array>&, const std::vector<array>& cot,
                                       const std::vector<int>&, const std::vector<array>&) {
  return {cot[0]};
}

std::vector<array> ContiguousCopy::jvp(const std::vector<array>&, const std::vector<array>& t,
                                       const std::vector<int>&) {
  return {t[0]};
}

std::pair<std::vector<array>, std::vector<int>> ContiguousCopy::vmap(
    const std::vector<array>& in, const std::vector<int>& axes) {
  return {{detail::contiguous_copy(in[0], stream())}, axes};
}

std::vector<Shape> ContiguousCopy::output_shapes(const std::vector<array>& in) {
  return {in[0].shape()};
}

} // namespace mlx_sparse
