// eval_cpu of flash_attention (forward and backward); with the Metal emulator on, its Metal
// kernels (metal/flash_attention.metal) run instead.
#include "cpu/eval_common.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

// inputs: q, k, v, row_ptr, col, t_ptr, t_row, t_block, [bias], [mask], ...
AttentionParams attention_params(const std::vector<array>& in, int block_size, float scale,
                                 bool has_bias, bool has_mask) {
  AttentionParams p;
  const array& q = in[0];
  p.a = {q.shape(0), q.shape(1),  in[1].shape(1), q.shape(2), in[2].shape(2), block_size,
         static_cast<int64_t>(in[4].size()), scale, has_bias, has_mask, 0};
  p.q = q.data<void>();
  p.k = in[1].data<void>();
  p.v = in[2].data<void>();
  p.row_ptr = in[3].data<int32_t>();
  p.col = in[4].data<int32_t>();
  p.t_ptr = in[5].data<int32_t>();
  p.t_row = in[6].data<int32_t>();
  p.t_block = in[7].data<int32_t>();
  p.bias = has_bias ? in[8].data<void>() : nullptr;
  p.mask = has_mask ? in[8 + has_bias].data<uint8_t>() : nullptr;
  p.vtype = cpu::value_type(q.dtype());
  return p;
}

} // namespace

void FlashAttention::eval_cpu(const std::vector<array>& in, std::vector<array>& outs) {
  if (emu::emulated(*this, in, outs)) {
    return;
  }
  for (auto& o : outs) {
    cpu::allocate(o);
  }
  AttentionParams p = attention_params(in, block_size_, scale_, has_bias_, has_mask_);
  p.o = outs[0].data<void>();
  p.lse = outs[1].data<float>();
  cpu::launch(stream(), &cpu::flash_attention, p);
}

// inputs: FlashAttention's, then o, lse, do, dlse; outputs: dq, dk, dv, [dbias]
void FlashAttentionGrad::eval_cpu(const std::vector<array>& in, std::vector<array>& outs) {
  if (emu::emulated(*this, in, outs)) {
    return;
  }
  for (auto& o : outs) {
    cpu::allocate(o);
  }
  AttentionParams p = attention_params(in, block_size_, scale_, has_bias_, has_mask_);
  const size_t n = in.size();
  p.o = const_cast<void*>(in[n - 4].data<void>());
  p.lse = const_cast<float*>(in[n - 3].data<float>());
  p.d_o = in[n - 2].data<void>();
  p.d_lse = in[n - 1].data<float>();
  p.dq = outs[0].data<void>();
  p.dk = outs[1].data<void>();
  p.dv = outs[2].data<void>();
  p.dbias = has_bias_ ? outs[3].data<void>() : nullptr;
  cpu::launch(stream(), &cpu::flash_attention_grad, p);
}

} // namespace mlx_sparse
