// eval_cpu of contiguous_copy: the input's layout, size-1 axes dropped and adjacent axes
// merged, handed to the tiled kernel; an input already row-major is shared, not copied.
#include "cpu/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

void ContiguousCopy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {
    out.copy_shared_buffer(in);
    return;
  }
  cpu::allocate(out);
  CopyParams p{};
  p.in = in.data<void>();
  p.out = out.data<void>();
  p.elem_bytes = static_cast<int>(in.itemsize());
  for (size_t d = 0; d < in.ndim(); ++d) {
    const int64_t n = in.shape(d), stride = in.strides()[d];
    if (n == 1) {
      continue;
    }
    if (p.ndim > 0 && p.strides[p.ndim - 1] == n * stride) {
      p.shape[p.ndim - 1] *= n; // (a, n * s) then (n, s): one axis of a * n at stride s
      p.strides[p.ndim - 1] = stride;
      continue;
    }
    p.shape[p.ndim] = n;
    p.strides[p.ndim] = stride;
    ++p.ndim;
  }
  if (out.size() > 0) {
    cpu::launch(stream(), &cpu::contiguous_copy, p);
  }
}

} // namespace mlx_sparse
