// spgemm's symbolic phase as lazy structural steps (workspace, count, fill): what
// csr_spgemm_symbolic runs on GPU streams. Integer outputs only: nothing to differentiate.
#include <limits>
#include <stdexcept>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

int64_t detail::check_spgemm_operands(const array& a_indptr, const array& a_indices,
                                      const array& b_indptr, const array& b_indices,
                                      int64_t n_cols_b, mx::Stream s) {
  const char* op = "csr_spgemm";
  int64_t m = check_structure(op, a_indptr, a_indices);
  check_structure(op, b_indptr, b_indices);
  if (a_indptr.dtype() != b_indptr.dtype()) {
    throw std::invalid_argument("[csr_spgemm] A and B must share one index dtype.");
  }
  if (n_cols_b < 0) {
    throw std::invalid_argument("[csr_spgemm] n_cols_b must be non-negative.");
  }
  if (gpu_path(s) && n_cols_b > std::numeric_limits<int32_t>::max()) {
    Message msg;
    msg << "[csr_spgemm] the GPU symbolic phase hashes columns in 32 bits: B has " << n_cols_b
        << " columns, at most 2^31 - 1 are supported (use the CPU).";
    throw std::invalid_argument(msg.str());
  }
  return m;
}

namespace {

void check_steps(const array& workspace, int64_t slots, const array* c_indptr, int64_t m) {
  auto bad = [m](const array& x) {
    return x.ndim() != 1 || x.dtype() != mx::int64 || static_cast<int64_t>(x.size()) != m + 1;
  };
  if (bad(workspace) || (c_indptr && bad(*c_indptr))) {
    Message msg;
    msg << "[csr_spgemm] the workspace offsets and C's indptr must be int64 arrays of m + 1 = "
        << m + 1 << " entries (from csr_spgemm_workspace and csr_spgemm_count).";
    throw std::invalid_argument(msg.str());
  }
  if (slots < 0 || slots > std::numeric_limits<int>::max()) {
    Message msg;
    msg << "[csr_spgemm] the workspace needs " << slots
        << " hash slots; one buffer holds 0 to 2^31 - 1.";
    throw std::overflow_error(msg.str());
  }
}

} // namespace

array csr_spgemm_workspace(const array& a_indptr, const array& a_indices, const array& b_indptr,
                           const array& b_indices, int64_t n_cols_b, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  int64_t m = check_spgemm_operands(a_indptr, a_indices, b_indptr, b_indices, n_cols_b, s);
  return array({static_cast<int>(m) + 1}, mx::int64,
               std::make_shared<CsrSpgemmWorkspace>(s, n_cols_b),
               {prepare_indptr(a_indptr, s), prepare_index(a_indices, s),
                prepare_indptr(b_indptr, s), prepare_index(b_indices, s)});
}

array csr_spgemm_count(const array& a_indptr, const array& a_indices, const array& b_indptr,
                       const array& b_indices, const array& workspace, int64_t slots,
                       int64_t n_cols_b, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  int64_t m = check_spgemm_operands(a_indptr, a_indices, b_indptr, b_indices, n_cols_b, s);
  check_steps(workspace, slots, nullptr, m);
  return array({static_cast<int>(m) + 1}, mx::int64,
               std::make_shared<CsrSpgemmCount>(s, n_cols_b, slots),
               {prepare_indptr(a_indptr, s), prepare_index(a_indices, s),
                prepare_indptr(b_indptr, s), prepare_index(b_indices, s),
                prepare_index(workspace, s)});
}

array csr_spgemm_fill(const array& a_indptr, const array& a_indices, const array& b_indptr,
                      const array& b_indices, const array& workspace, int64_t slots,
                      const array& c_indptr, int64_t nnz_c, int64_t n_cols_b,
                      StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  int64_t m = check_spgemm_operands(a_indptr, a_indices, b_indptr, b_indices, n_cols_b, s);
  check_steps(workspace, slots, &c_indptr, m);
  if (nnz_c < 0) {
    throw std::invalid_argument("[csr_spgemm] nnz_c must be non-negative.");
  }
  return array({dim("csr_spgemm", nnz_c, "stored entries")}, a_indptr.dtype(),
               std::make_shared<CsrSpgemmFill>(s, n_cols_b, slots, nnz_c),
               {prepare_indptr(a_indptr, s), prepare_index(a_indices, s),
                prepare_indptr(b_indptr, s), prepare_index(b_indices, s),
                prepare_index(workspace, s), prepare_indptr(c_indptr, s)});
}

std::vector<Shape> CsrSpgemmWorkspace::output_shapes(const std::vector<array>& inputs) {
  return {{static_cast<int>(inputs[0].size())}};
}

std::vector<Shape> CsrSpgemmCount::output_shapes(const std::vector<array>& inputs) {
  return {{static_cast<int>(inputs[0].size())}};
}

std::vector<Shape> CsrSpgemmFill::output_shapes(const std::vector<array>&) {
  return {{static_cast<int>(nnz_)}};
}

bool CsrSpgemmWorkspace::is_equivalent(const Primitive& other) const {
  return n_cols_b_ == static_cast<const CsrSpgemmWorkspace&>(other).n_cols_b_;
}

bool CsrSpgemmCount::is_equivalent(const Primitive& other) const {
  const auto& o = static_cast<const CsrSpgemmCount&>(other);
  return n_cols_b_ == o.n_cols_b_ && slots_ == o.slots_;
}

bool CsrSpgemmFill::is_equivalent(const Primitive& other) const {
  const auto& o = static_cast<const CsrSpgemmFill&>(other);
  return n_cols_b_ == o.n_cols_b_ && slots_ == o.slots_ && nnz_ == o.nnz_;
}

} // namespace mlx_sparse
