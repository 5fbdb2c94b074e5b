// flash_attention: block-sparse softmax(scale q k^T + bias) v over a block CSR layout, as one
// fused primitive (FlashAttention -> o, lse) and its gradient (FlashAttentionGrad); their
// transforms are in flash_attention_transforms.cpp. The kernel contract is
// docs/developer/flash_attention.md; the Python layer picks this op or the MLX-op path before
// the graph is built.
#include <algorithm>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument(std::string("[flash_attention] ") + what);
}

void check_int32_vector(const array& a, const char* name, int64_t size) {
  if (a.dtype() != mx::int32 || a.ndim() != 1 || (size >= 0 && static_cast<int64_t>(a.size()) != size)) {
    Message msg;
    msg << name << " should be 1-D int32";
    if (size >= 0) {
      msg << " of size " << size;
    }
    msg << " but is " << a.dtype() << " of shape " << shape_str(a.shape()) << ".";
    fail(msg.str());
  }
}

// A block CSR ptr[rows + 1] / idx[n_blocks] with idx in [0, bound), ascending within a row.
void check_block_csr(const array& ptr, const array& idx, int64_t bound, const char* ptr_name,
                     const char* idx_name, bool ascending) {
  const int32_t* p = ptr.data<int32_t>();
  const int32_t* x = idx.data<int32_t>();
  const int64_t rows = static_cast<int64_t>(ptr.size()) - 1, n = idx.size();
  if (p[0] != 0 || p[rows] != n) {
    Message msg;
    msg << ptr_name << " should run from 0 to n_blocks=" << n << " but runs from " << p[0]
        << " to " << p[rows] << ".";
    fail(msg.str());
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (p[r + 1] < p[r]) {
      Message msg;
      msg << ptr_name << " should be non-decreasing but " << ptr_name << "[" << r + 1
          << "]=" << p[r + 1] << " < " << p[r] << ".";
      fail(msg.str());
    }
    for (int64_t e = p[r]; e < p[r + 1]; ++e) {
      if (x[e] < 0 || x[e] >= bound || (ascending && e > p[r] && x[e] <= x[e - 1])) {
        Message msg;
        msg << idx_name << "[" << e << "]=" << x[e] << " should be in [0, " << bound << ")"
            << (ascending ? " and ascending within its row." : ".");
        fail(msg.str());
      }
    }
  }
}

// Whether these tables passed check_layout_values before. The last kCheckedLayouts checked
// are held, so their ids cannot be reused by other arrays: a layout used at every call (a
// training loop) is read on the host once: reading them costs host time at every call, and
// on CUDA it may pull the tables' pages back from the GPU that used them at the call before.
constexpr size_t kCheckedLayouts = 16;

bool checked_before(const std::vector<array>& tables, bool remember) {
  static std::mutex mutex;
  static std::deque<std::vector<array>> checked; // most recent first
  std::lock_guard<std::mutex> lock(mutex);
  auto same = [&](const std::vector<array>& c) {
    for (size_t i = 0; i < tables.size(); ++i) {
      if (c[i].id() != tables[i].id()) {
        return false;
      }
    }
    return true;
  };
  for (auto it = checked.begin(); it != checked.end(); ++it) {
    if (same(*it)) {
      std::rotate(checked.begin(), it, std::next(it));
      return true;
    }
  }
  if (remember) {
    checked.push_front(tables);
    if (checked.size() > kCheckedLayouts) {
      checked.pop_back();
    }
  }
  return false;
}

// The layout's values, when they are at hand (not traced by mx.compile): the kernels stay in
// bounds on any values (docs/developer/flash_attention.md), this catches a wrong layout early.
void check_layout_values(const array& row_ptr, const array& col, const array& t_ptr,
                         const array& t_row, const array& t_block, int64_t mb, int64_t nb) {
  for (const array* a : {&row_ptr, &col, &t_ptr, &t_row, &t_block}) {
    if (!a->is_available() || !a->flags().row_contiguous) {
      return;
    }
  }
  const std::vector<array> tables = {row_ptr, col, t_ptr, t_row, t_block};
  if (checked_before(tables, false)) {
    return;
  }
  check_block_csr(row_ptr, col, nb, "row_ptr", "col", true);
  check_block_csr(t_ptr, t_row, mb, "t_ptr", "t_row", true);
  // each transposed entry names the block at its (row, column): a bijection onto the blocks
  const int32_t* rp = row_ptr.data<int32_t>();
  const int32_t* cl = col.data<int32_t>();
  const int32_t* tp = t_ptr.data<int32_t>();
  const int32_t* tr = t_row.data<int32_t>();
  const int32_t* tb = t_block.data<int32_t>();
  const int64_t n = t_block.size(), columns = static_cast<int64_t>(t_ptr.size()) - 1;
  for (int64_t c = 0; c < columns; ++c) {
    const int64_t b = c / nb, j = c % nb;
    for (int64_t x = tp[c]; x < tp[c + 1]; ++x) {
      const int64_t e = tb[x], r = b * mb + tr[x];
      if (e < 0 || e >= n || e < rp[r] || e >= rp[r + 1] || cl[e] != j) {
        Message msg;
        msg << "t_block[" << x << "]=" << e << " should be the block at batch " << b
            << ", row " << tr[x] << ", column " << j << " of row_ptr/col.";
        fail(msg.str());
      }
    }
  }
  checked_before(tables, true);
}

bool fused_dtype(mx::Dtype t) {
  return t == mx::float32 || t == mx::float16 || t == mx::bfloat16;
}

void check_head_dim(int64_t d, const char* name) {
  if (d < 8 || d > 256 || d % 8) {
    Message msg;
    msg << name << " should be a multiple of 8 from 8 to 256 but is " << d << ".";
    fail(msg.str());
  }
}

} // namespace

std::vector<array> flash_attention(const array& q, const array& k, const array& v,
                                   const array& row_ptr, const array& col, const array& t_ptr,
                                   const array& t_row, const array& t_block,
                                   const std::optional<array>& bias,
                                   const std::optional<array>& mask, int block_size, float scale,
                                   StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3 || k.shape(0) != q.shape(0) ||
      v.shape(0) != q.shape(0) || k.shape(2) != q.shape(2) || v.shape(1) != k.shape(1)) {
    fail("q, k and v should be (B, Lq, d), (B, Lk, d) and (B, Lk, dv) but have shapes " +
         shape_str(q.shape()) + ", " + shape_str(k.shape()) + " and " + shape_str(v.shape()) +
         ".");
  }
  const auto t = q.dtype();
  if (!fused_dtype(t) || k.dtype() != t || v.dtype() != t) {
    Message msg;
    msg << "q, k and v should share one dtype of float32, float16 or bfloat16 but are "
        << q.dtype() << ", " << k.dtype() << " and " << v.dtype() << ".";
    fail(msg.str());
  }
  if (block_size != 16 && block_size != 32 && block_size != 64) {
    fail("block_size should be 16, 32 or 64 but is " + std::to_string(block_size) + ".");
  }
  const int64_t batch = q.shape(0), lq = q.shape(1), lk = k.shape(1);
  if (lq % block_size || lk % block_size) {
    Message msg;
    msg << "Lq=" << lq << " and Lk=" << lk << " should be multiples of block_size="
        << block_size << ".";
    fail(msg.str());
  }
  check_head_dim(q.shape(2), "d");
  check_head_dim(v.shape(2), "dv");
  const int64_t mb = lq / block_size, nb = lk / block_size;
  check_int32_vector(row_ptr, "row_ptr", batch * mb + 1);
  check_int32_vector(col, "col", -1);
  const int64_t n_blocks = col.size();
  check_int32_vector(t_ptr, "t_ptr", batch * nb + 1);
  check_int32_vector(t_row, "t_row", n_blocks);
  check_int32_vector(t_block, "t_block", n_blocks);
  const mx::Shape tiles = {static_cast<int>(n_blocks), block_size, block_size};
  if (bias && (bias->shape() != tiles || bias->dtype() != t)) {
    Message msg;
    msg << "bias should be " << t << " of shape " << shape_str(tiles) << " but is "
        << bias->dtype() << " of shape " << shape_str(bias->shape()) << ".";
    fail(msg.str());
  }
  if (mask && (mask->shape() != tiles || mask->dtype() != mx::uint8)) {
    Message msg;
    msg << "mask should be uint8 (1 = masked) of shape " << shape_str(tiles) << " but is "
        << mask->dtype() << " of shape " << shape_str(mask->shape()) << ".";
    fail(msg.str());
  }
  check_layout_values(row_ptr, col, t_ptr, t_row, t_block, mb, nb);
  // traced pointers become their running maximum (ops.h's CSR rule): rows never overlap, so
  // each dbias block and each dq/dk/dv block keeps one writer whatever the values
  std::vector<array> inputs = {prepare(q, t, s),          prepare(k, t, s),
                               prepare(v, t, s),          prepare_indptr(row_ptr, s),
                               prepare_index(col, s),     prepare_indptr(t_ptr, s),
                               prepare_index(t_row, s),   prepare_index(t_block, s)};
  if (bias) {
    inputs.push_back(prepare(*bias, t, s));
  }
  if (mask) {
    inputs.push_back(prepare_index(*mask, s));
  }
  auto prim = std::make_shared<FlashAttention>(s, block_size, scale, bias.has_value(),
                                               mask.has_value());
  return array::make_arrays({{q.shape(0), q.shape(1), v.shape(2)}, {q.shape(0), q.shape(1)}},
                            {t, mx::float32}, prim, std::move(inputs));
}

std::vector<Shape> FlashAttention::output_shapes(const std::vector<array>& inputs) {
  const auto& q = inputs[0];
  return {{q.shape(0), q.shape(1), inputs[2].shape(2)}, {q.shape(0), q.shape(1)}};
}

bool FlashAttention::is_equivalent(const Primitive& other) const {
  const auto& o = static_cast<const FlashAttention&>(other);
  return block_size_ == o.block_size_ && scale_ == o.scale_ && has_bias_ == o.has_bias_ &&
         has_mask_ == o.has_mask_;
}

std::vector<Shape> FlashAttentionGrad::output_shapes(const std::vector<array>& inputs) {
  std::vector<Shape> shapes = {inputs[0].shape(), inputs[1].shape(), inputs[2].shape()};
  if (has_bias_) {
    shapes.push_back(inputs[8].shape());
  }
  return shapes;
}

bool FlashAttentionGrad::is_equivalent(const Primitive& other) const {
  const auto& o = static_cast<const FlashAttentionGrad&>(other);
  return block_size_ == o.block_size_ && scale_ == o.scale_ && has_bias_ == o.has_bias_ &&
         has_mask_ == o.has_mask_;
}

} // namespace mlx_sparse
