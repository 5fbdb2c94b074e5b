// Glue between the primitives' eval_cpu and the kernels: parameter views of MLX arrays and
// a launcher that runs a kernel on the stream's worker thread and turns a bad report into
// an error that names the op.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "message.h"
#include "cpu/kernels.h"
#include "mlx/allocator.h"
#include "mlx/array.h"
#include "mlx/backend/cpu/encoder.h"

namespace mlx_sparse::cpu {

namespace mx = mlx::core;

inline ValueType value_type(mx::Dtype t) {
  if (t == mx::float16) return ValueType::float16;
  if (t == mx::bfloat16) return ValueType::bfloat16;
  if (t == mx::float64) return ValueType::float64;
  if (t == mx::float32) return ValueType::float32;
  throw std::invalid_argument("[mlx_sparse] unsupported value dtype");
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

// Elements between batch entries of an operand whose core part has `core` elements:
// 0 when the operand is shared by the whole batch.
inline int64_t batch_stride(const mx::array& a, int64_t core, int64_t batch) {
  return batch > 1 && static_cast<int64_t>(a.size()) == core ? 0 : core;
}

[[noreturn]] inline void throw_status(const char* op, const KernelStatus& st, int64_t n_cols) {
  Message msg;
  msg << "[" << op << "] ";
  if (st.bad_indptr) {
    msg << "invalid indptr at row " << st.row << " (entry " << st.value
        << "): indptr must start at 0, never decrease and end at nnz.";
  } else {
    msg << "column index " << st.value << " in row " << st.row << " is out of range for "
        << n_cols << " columns.";
  }
  throw std::out_of_range(msg.str());
}

// Runs kernel(params) on the stream's CPU worker; errors surface at mx.eval.
template <typename P>
void launch(mx::Stream s, const char* op, KernelStatus (*kernel)(const P&), const P& params,
            int64_t n_cols) {
  auto& enc = mx::cpu::get_command_encoder(s);
  enc.dispatch([=]() {
    KernelStatus st = kernel(params);
    if (!st.ok()) {
      throw_status(op, st, n_cols);
    }
  });
}

} // namespace mlx_sparse::cpu
