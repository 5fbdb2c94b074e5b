#include "emu/emulator.h"
#include "message.h"
#include "ops/common.h"

#include <algorithm>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>

namespace mlx_sparse::detail {

bool gpu_path(mx::Stream s) {
  return s.device.type == mx::Device::gpu || emu::enabled();
}

std::string shape_str(const mx::Shape& shape) {
  Message os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    os << shape[i] << (i + 1 < shape.size() || shape.size() == 1 ? "," : "");
    if (i + 1 < shape.size()) {
      os << " ";
    }
  }
  os << ")";
  return os.str();
}

int64_t check_structure(const char* op, const array& indptr, const array& indices) {
  auto is_index = [](const array& a) { return a.dtype() == mx::int32 || a.dtype() == mx::int64; };
  if (indptr.ndim() != 1 || indices.ndim() != 1) {
    Message msg;
    msg << "[" << op << "] indptr and indices must be 1-D but have shapes "
        << shape_str(indptr.shape()) << " and " << shape_str(indices.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!is_index(indptr) || !is_index(indices) || indptr.dtype() != indices.dtype()) {
    Message msg;
    msg << "[" << op << "] indptr and indices must both be int32 or both int64 but are "
        << indptr.dtype() << " and " << indices.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }
  if (indptr.size() < 1) {
    throw std::invalid_argument(std::string("[") + op + "] indptr must have at least one entry (m + 1).");
  }
  return static_cast<int64_t>(indptr.size()) - 1;
}

void check_values(const char* op, const array& data, const array& indices) {
  if (data.ndim() < 1 || data.shape(-1) != indices.size()) {
    Message msg;
    msg << "[" << op << "] data must have shape (..., nnz) with nnz = " << indices.size()
        << " but has shape " << shape_str(data.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

mx::Dtype value_dtype(const char* op, const std::vector<array>& operands, mx::Stream s) {
  auto t = mx::result_type(operands);
  if (t == mx::complex64 || t == mx::bool_) {
    Message msg;
    msg << "[" << op << "] values must be real numbers but got " << t << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!mx::issubdtype(t, mx::floating)) {
    t = mx::float32;
  }
  if (t == mx::float64 && s.device.type == mx::Device::gpu) {
    // said here, when the graph is built, not when the GPU evaluates it
    throw std::invalid_argument(std::string("[") + op +
                                "] float64 is not supported on the GPU; use the CPU "
                                "(stream=mx.cpu) or float32.");
  }
  return t;
}

array cast(const array& a, mx::Dtype dtype, mx::Stream s) {
  return a.dtype() == dtype ? a : mx::astype(a, dtype, s);
}

array prepare(const array& a, mx::Dtype dtype, mx::Stream s) {
  array x = cast(a, dtype, s);
  if (x.is_available() && x.flags().row_contiguous) {
    return x;
  }
  return contiguous_copy(x, s);
}

array prepare_index(const array& a, mx::Stream s) {
  return prepare(a, a.dtype(), s);
}

array prepare_indptr(const array& indptr, mx::Stream s) {
  array p = prepare_index(indptr, s);
  return indptr.is_tracer() ? mx::cummax(p, 0, false, true, s) : p;
}

array prepare_entries(const array& idx, int64_t nnz, mx::Stream s) {
  array p = prepare_index(idx, s);
  if (!idx.is_tracer()) {
    return p;
  }
  return mx::clip(p, array(0, p.dtype()), array(std::max<int64_t>(nnz - 1, 0), p.dtype()), s);
}

array take_entries(const array& x, const array& idx, std::optional<array> live, int axis,
                   mx::Stream s) {
  if (!idx.is_tracer() && !(live && live->is_tracer())) {
    return mx::take(x, idx, axis, s);
  }
  // a zero appended along the axis, taken by every index that must not read
  const int size = x.shape(axis);
  mx::Shape pad_shape = x.shape();
  pad_shape[axis < 0 ? axis + x.ndim() : axis] = 1;
  array padded = mx::concatenate({x, mx::zeros(pad_shape, x.dtype(), s)}, axis, s);
  array i64 = mx::astype(idx, mx::int64, s);
  array ok = mx::logical_and(mx::greater_equal(i64, array(0, mx::int64), s),
                             mx::less(i64, array(size, mx::int64), s), s);
  if (live) {
    ok = mx::logical_and(ok, *live, s);
  }
  return mx::take(padded, mx::where(ok, i64, array(size, mx::int64), s), axis, s);
}

mx::Shape batch_shape(const char* op, const std::vector<array>& operands,
                      const std::vector<int>& core) {
  mx::Shape out;
  for (size_t i = 0; i < operands.size(); ++i) {
    const auto& sh = operands[i].shape();
    mx::Shape b(sh.begin(), sh.end() - core[i]);
    try {
      out = mx::broadcast_shapes(out, b);
    } catch (const std::invalid_argument&) {
      Message msg;
      msg << "[" << op << "] batch dimensions do not broadcast: " << shape_str(out) << " and "
          << shape_str(b) << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  return out;
}

int64_t batch_size(const array& a, int core) {
  int64_t n = 1;
  for (int i = 0; i + core < static_cast<int>(a.ndim()); ++i) {
    n *= a.shape(i);
  }
  return n;
}

array fit_batch(const array& a, int core, const mx::Shape& batch, mx::Stream s) {
  int64_t total = 1;
  for (auto d : batch) {
    total *= d;
  }
  mx::Shape core_shape(a.shape().end() - core, a.shape().end());
  int64_t own = batch_size(a, core);
  if (own == 1 && total != 1) {
    return mx::reshape(a, core_shape, s);
  }
  mx::Shape full = batch;
  full.insert(full.end(), core_shape.begin(), core_shape.end());
  if (a.shape() == full) {
    return a;
  }
  if (own == total) {
    return mx::reshape(a, full, s);
  }
  return mx::broadcast_to(a, full, s);
}

array sum_to_shape(const array& x, const mx::Shape& shape, mx::Stream s) {
  if (x.shape() == shape) {
    return x;
  }
  int extra = static_cast<int>(x.ndim()) - static_cast<int>(shape.size());
  std::vector<int> axes;
  for (int i = 0; i < static_cast<int>(x.ndim()); ++i) {
    if (i < extra || (shape[i - extra] == 1 && x.shape(i) != 1)) {
      axes.push_back(i);
    }
  }
  array r = axes.empty() ? x : mx::sum(x, axes, true, s);
  return mx::reshape(r, shape, s);
}

std::vector<array> vmap_align(const char* op, const std::vector<array>& inputs,
                              const std::vector<int>& axes, const std::vector<int>& core,
                              size_t first_value, mx::Stream s) {
  for (size_t i = 0; i < first_value; ++i) {
    if (axes[i] >= 0) {
      throw std::invalid_argument(std::string("[") + op +
                                  "] vmap over the sparse structure (indptr, indices) is not "
                                  "supported; vmap over values and dense operands.");
    }
  }
  int rank = 0;
  for (size_t i = first_value; i < inputs.size(); ++i) {
    int r = static_cast<int>(inputs[i].ndim()) - core[i] - (axes[i] >= 0 ? 1 : 0);
    rank = std::max(rank, r);
  }
  std::vector<array> out(inputs.begin(), inputs.end());
  for (size_t i = first_value; i < inputs.size(); ++i) {
    array x = inputs[i];
    int own = static_cast<int>(x.ndim()) - core[i];
    if (axes[i] >= 0) {
      x = mx::moveaxis(x, axes[i], 0, s);
      own -= 1;
    } else {
      x = mx::expand_dims(x, 0, s);
    }
    for (int j = own; j < rank; ++j) {
      x = mx::expand_dims(x, 1, s);
    }
    out[i] = x;
  }
  return out;
}

void throw_index_grad(const char* op) {
  throw std::invalid_argument(std::string("[") + op +
                              "] gradients with respect to indptr or indices are not defined; "
                              "differentiate with respect to the values (data) instead.");
}

int dim(const char* op, int64_t count, const char* what) {
  if (count < 0 || count > static_cast<int64_t>(std::numeric_limits<int>::max())) {
    Message msg;
    msg << "[" << op << "] the result would have " << count << " " << what
        << ": MLX shapes are 32-bit, so one array dimension holds at most 2^31 - 1.";
    throw std::overflow_error(msg.str());
  }
  return static_cast<int>(count);
}

namespace {
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override {
    return msg_.c_str();
  }

 private:
  std::string msg_;
};
} // namespace

void throw_out_of_memory(const char* op, const char* doing) {
  throw OutOfMemory(std::string("[") + op + "] out of memory " + doing + ".");
}

void throw_coo_out_of_range(int64_t e, int64_t r, int64_t c, int64_t m, int64_t n) {
  Message msg;
  msg << "[coo_tocsr] entry " << e << " at (" << r << ", " << c
      << ") is out of range for shape (" << m << ", " << n << ").";
  throw std::invalid_argument(msg.str());
}

} // namespace mlx_sparse::detail
