// Glue between the primitives' eval_cpu and the kernels: parameter views of MLX arrays, the
// kernels' scratch memory, and a launcher that runs a kernel on the stream's worker thread.
// eval_cpu runs on the thread that called mx.eval, where an error may be thrown; the kernel
// then runs on MLX's stream thread, where nothing may throw (MLX 0.32.4 can hang after an
// exception there), so everything that can fail happens here first.
#pragma once

#include <stdexcept>
#include <string>

#include "message.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"
#include "mlx/allocator.h"
#include "mlx/array.h"
#include "mlx/backend/cpu/encoder.h"

namespace mlx_sparse::cpu {

namespace mx = mlx::core;

// The ops' value_dtype only ever gives these four, so the throw is for a broken invariant;
// it happens in eval_cpu, never on the stream thread.
inline ValueType value_type(mx::Dtype t) {
  if (t == mx::float16) return ValueType::float16;
  if (t == mx::bfloat16) return ValueType::bfloat16;
  if (t == mx::float64) return ValueType::float64;
  if (t == mx::float32) return ValueType::float32;
  Message msg;
  msg << "[mlx_sparse] a CPU kernel got values of dtype " << t
      << "; the ops only make float16, bfloat16, float32 and float64.";
  throw std::invalid_argument(msg.str());
}

inline IndexType index_type(mx::Dtype t) {
  return t == mx::int64 ? IndexType::int64 : IndexType::int32;
}

inline CsrView csr_view(const mx::array& indptr, const mx::array& indices, int64_t n_cols) {
  return {indptr.data<void>(), indices.data<void>(), static_cast<int64_t>(indptr.size()) - 1,
          n_cols, static_cast<int64_t>(indices.size()), index_type(indptr.dtype())};
}

inline void allocate(mx::array& out) {
  out.set_data(mx::allocator::malloc(out.nbytes()));
}

// `bytes` of scratch for a kernel (nullptr for none), allocated in eval_cpu and kept alive
// until the stream has run the kernel.
inline void* scratch(mx::Stream s, int64_t bytes) {
  if (bytes <= 0) {
    return nullptr;
  }
  mx::array buffer(mx::allocator::malloc(static_cast<size_t>(bytes)), {1}, mx::uint8);
  mx::cpu::get_command_encoder(s).add_temporary(buffer);
  return buffer.data<void>();
}

// Elements between batch entries of an operand whose core part has `core` elements:
// 0 when the operand is shared by the whole batch.
inline int64_t batch_stride(const mx::array& a, int64_t core, int64_t batch) {
  return batch > 1 && static_cast<int64_t>(a.size()) == core ? 0 : core;
}

// Runs kernel(params) on the stream's CPU worker, its scratch (if it has any) allocated here.
template <typename P>
void launch(mx::Stream s, void (*kernel)(const P&) noexcept, P params) {
  if constexpr (requires { params.scratch; }) {
    params.scratch = scratch(s, scratch_bytes(params));
  }
  mx::cpu::get_command_encoder(s).dispatch([=]() noexcept { kernel(params); });
}

} // namespace mlx_sparse::cpu
