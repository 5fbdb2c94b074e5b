// cg_step: one fused conjugate-gradient iteration for linalg.cg on CPU streams (its vector
// updates and dot products as MLX ops were each a pass over n, and MLX's float64 sums are
// slow on the CPU). The iterations carry no gradient: the solver's is the implicit rule.
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

array csr_cg_step(const array& indptr, const array& indices, const array& data,
                  const array& state, const array& tol2, StreamOrDevice sd) {
  constexpr const char* op = "csr_cg_step";
  auto s = mx::to_stream(sd);
  const int64_t m = check_structure(op, indptr, indices);
  check_values(op, data, indices);
  const auto dtype = data.dtype();
  if (data.ndim() != 1 || state.ndim() != 1 || state.size() != 4 * m + 3 || tol2.ndim() != 0 ||
      (dtype != mx::float32 && dtype != mx::float64)) {
    Message msg;
    msg << "[" << op << "] takes a square float32/float64 A (" << m << " rows), a state of "
        << 4 * m + 3 << " values [x | r | p | Ap | rz, go, it] and a 0-d tol2; got data "
        << shape_str(data.shape()) << " of " << dtype << ", a state "
        << shape_str(state.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (s.device.type == mx::Device::gpu) { // (the Metal emulator's tests run it on the CPU)
    throw std::invalid_argument("[csr_cg_step] runs on CPU streams only.");
  }
  return array(state.shape(), dtype, std::make_shared<CsrCgStep>(s),
               {prepare_indptr(indptr, s), prepare_index(indices, s), prepare(data, dtype, s),
                prepare(state, dtype, s), prepare(tol2, dtype, s)});
}

std::vector<Shape> CsrCgStep::output_shapes(const std::vector<array>& in) {
  return {in[3].shape()};
}

} // namespace mlx_sparse
