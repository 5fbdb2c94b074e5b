// eval_cpu of cg_step (cpu/kernels/cg_step.cpp): in place when MLX lets the state go (a
// chunk of lazy steps, where each state is read only by the next).
#include "cpu/eval_common.h"
#include "primitives.h"

namespace mlx_sparse {

void CsrCgStep::eval_cpu(const std::vector<array>& in, array& out) {
  const array& state = in[3];
  if (state.is_donatable() && state.flags().row_contiguous) {
    out.copy_shared_buffer(state);
  } else {
    cpu::allocate(out);
  }
  CgStepParams p;
  p.a = cpu::csr_view(in[0], in[1], (state.size() - 3) / 4);
  p.data = in[2].data<void>();
  p.state = state.data<void>();
  p.tol2 = in[4].data<void>();
  p.out = out.data<void>();
  p.vtype = cpu::value_type(out.dtype());
  cpu::launch(stream(), &cpu::cg_step, p);
}

} // namespace mlx_sparse
