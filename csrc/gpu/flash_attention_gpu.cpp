// GPU evaluation of flash_attention (kernels in csrc/cuda/kernels/flash_attention.cu; contract
// in docs/developer/flash_attention.md): the forward, then for the gradient delta, dq (+ dbias)
// per query block row and dk/dv per key block column of the transposed structure.
#include <algorithm>
#include <stdexcept>

#include "gpu/eval.h"
#include "gpu/host.h"

namespace mlx_sparse::gpu {

namespace mx = mlx::core;

namespace {

constexpr int64_t kOwnColumns = 64; // output columns per thread block (flash_attention.cu)

AttentionArgs attention_args(int bs, float scale, bool has_bias, bool has_mask,
                             const Inputs& in) {
  const auto &q = in[0], &k = in[1], &v = in[2];
  if (bs != 16 && bs != 32 && bs != 64) {
    throw std::invalid_argument("[flash_attention] the GPU kernels take block sizes 16, 32 "
                                "and 64, not " + std::to_string(bs) + ".");
  }
  return {q.shape(0), q.shape(1), k.shape(1), q.shape(2), v.shape(2), bs,
          static_cast<int64_t>(in[4].size()), scale, has_bias ? 1 : 0, has_mask ? 1 : 0, 0};
}

unsigned column_parts(int64_t width) {
  return static_cast<unsigned>(std::max<int64_t>((width + kOwnColumns - 1) / kOwnColumns, 1));
}

std::string attention_kernel(const char* pass, const AttentionArgs& a, mx::Dtype t) {
  return std::string("flash_attention_") + pass + "_bs" + std::to_string(a.bs) + "_" +
         value_name("flash_attention", t) + "_int32";
}

} // namespace

// inputs: q, k, v, row_ptr, col, t_ptr, t_row, t_block, [bias], [mask]; outputs: o, lse
void eval(Launch& l, const FlashAttention& p, const Inputs& in, std::vector<array>& outs) {
  const AttentionArgs a = attention_args(p.block_size_, p.scale_, p.has_bias_, p.has_mask_, in);
  for (auto& out : outs) {
    l.allocate(out);
  }
  // absent bias / mask: q fills the slot (Metal binds no null buffers); the flags keep it unread
  const array& bias = p.has_bias_ ? in[8] : in[0];
  const array& mask = p.has_mask_ ? in[p.has_bias_ ? 9 : 8] : in[0];
  const unsigned rows = static_cast<unsigned>(a.batch * (a.lq / a.bs));
  l.kernel(attention_kernel("forward", a, outs[0].dtype()), {rows, column_parts(a.dv)},
           {static_cast<unsigned>(a.bs * 2)}, In{in[0]}, In{in[1]}, In{in[2]}, In{in[3]},
           In{in[4]}, In{bias}, In{mask}, Out{outs[0]}, Out{outs[1]}, a);
}

// inputs: FlashAttention's, then o, lse, do, dlse; outputs: dq, dk, dv, [dbias]
void eval(Launch& l, const FlashAttentionGrad& p, const Inputs& in, std::vector<array>& outs) {
  const AttentionArgs a = attention_args(p.block_size_, p.scale_, p.has_bias_, p.has_mask_, in);
  for (auto& out : outs) {
    l.allocate(out);
  }
  const size_t n = in.size();
  const array &o = in[n - 4], &lse = in[n - 3], &d_o = in[n - 2], &dlse = in[n - 1];
  const array& bias = p.has_bias_ ? in[8] : in[0];
  const array& mask = p.has_mask_ ? in[p.has_bias_ ? 9 : 8] : in[0];
  array& dbias = p.has_bias_ ? outs[3] : outs[0];
  const mx::Dtype t = outs[0].dtype();
  array delta = l.temporary(a.batch * a.lq, mx::float32);
  l.kernel("flash_attention_delta_" + value_name("flash_attention", t),
           {blocks_for(a.batch * a.lq * kSimdWidth)}, {kBlock}, In{o}, In{d_o}, In{dlse},
           Out{delta}, a);
  const Dims threads{static_cast<unsigned>(a.bs * 2)};
  const unsigned rows = static_cast<unsigned>(a.batch * (a.lq / a.bs));
  const unsigned cols = static_cast<unsigned>(a.batch * (a.lk / a.bs));
  l.kernel(attention_kernel("dq", a, t), {rows, column_parts(a.d)}, threads, In{in[0]},
           In{in[1]}, In{in[2]}, In{in[3]}, In{in[4]}, In{bias}, In{mask}, In{lse}, In{d_o},
           In{delta}, Out{outs[0]}, Out{dbias}, a);
  l.kernel(attention_kernel("dkdv", a, t), {cols, column_parts(std::max(a.d, a.dv))}, threads,
           In{in[0]}, In{in[1]}, In{in[2]}, In{in[5]}, In{in[6]}, In{in[7]}, In{bias}, In{mask},
           In{lse}, In{d_o}, In{delta}, Out{outs[1]}, Out{outs[2]}, a);
}

} // namespace mlx_sparse::gpu
