// convolve2d of CSR images: X @ T^T with T the kernel's doubly-blocked Toeplitz matrix, at
// the output pattern from csr_convolve2d_symbolic. On the CPU a direct kernel scatters each
// pixel through the kernel; on GPU streams (and for planes too large for a dense row
// accumulator) the op is the SpGEMM with T^T. Either way the gradients are those SpGEMM's
// (masked products on other patterns), so they run on every backend and differentiate again.
#include <stdexcept>

#include "cpu/scratch.h"
#include "message.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace mx = mlx::core;
using namespace detail;

namespace {

constexpr const char* kOp = "csr_convolve2d";

// The geometry from [h, w, h_out, w_out, top, left] and k's shape (kh, kw) or
// (c_out, c_in, kh, kw).
Conv2dGeometry geometry(const std::vector<int64_t>& sizes, const array& k) {
  if (sizes.size() != 6 || k.ndim() != 2 && k.ndim() != 4 || k.size() == 0) {
    Message msg;
    msg << "[" << kOp << "] takes sizes [h, w, h_out, w_out, top, left] and a kernel of shape "
        << "(kh, kw) or (c_out, c_in, kh, kw); got " << sizes.size() << " sizes and a kernel "
        << shape_str(k.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  const int n = k.ndim();
  Conv2dGeometry g{sizes[0], sizes[1], sizes[2], sizes[3], k.shape(n - 2), k.shape(n - 1),
                   sizes[4], sizes[5], n == 4 ? k.shape(1) : 1, n == 4 ? k.shape(0) : 1};
  if (g.h < 1 || g.w < 1 || g.h_out < 1 || g.w_out < 1 || g.top < 0 || g.left < 0) {
    Message msg;
    msg << "[" << kOp << "] image and output sizes must be positive and offsets non-negative; "
        << "got h, w, h_out, w_out, top, left = " << g.h << ", " << g.w << ", " << g.h_out
        << ", " << g.w_out << ", " << g.top << ", " << g.left << ".";
    throw std::invalid_argument(msg.str());
  }
  return g;
}

// The SpGEMM X @ T^T at c's pattern: inputs as the primitive's (see primitives.h).
array toeplitz_product(const std::vector<array>& in, const array& x_data, const array& k,
                       const Conv2dGeometry& g, mx::Stream s) {
  array t_data = mx::take(mx::reshape(k, {-1}, s), in[6], 0, s);
  return csr_spgemm(in[0], in[1], x_data, in[4], in[5], t_data, in[7], in[8],
                    g.c_out * g.h_out * g.w_out, s);
}

} // namespace

array csr_convolve2d(const array& x_indptr, const array& x_indices, const array& x_data,
                     const array& k, const array& t_indptr, const array& t_indices,
                     const array& t_kernel, const array& c_indptr, const array& c_indices,
                     const std::vector<int64_t>& sizes, StreamOrDevice sd) {
  auto s = mx::to_stream(sd);
  const Conv2dGeometry g = geometry(sizes, k);
  const int64_t m = check_structure(kOp, x_indptr, x_indices);
  const int64_t t_rows = check_structure(kOp, t_indptr, t_indices);
  const int64_t mc = check_structure(kOp, c_indptr, c_indices);
  const auto itype = x_indptr.dtype();
  if (t_indptr.dtype() != itype || c_indptr.dtype() != itype || t_kernel.dtype() != itype) {
    throw std::invalid_argument(
        "[csr_convolve2d] x, T^T (with its kernel index) and the output pattern must share one "
        "index dtype.");
  }
  if (mc != m || t_rows != g.c_in * g.h * g.w || t_kernel.ndim() != 1 ||
      t_kernel.size() != t_indices.size()) {
    Message msg;
    msg << "[" << kOp << "] x has " << m << " rows and the output pattern " << mc
        << "; T^T has " << t_rows << " rows for " << g.c_in * g.h * g.w
        << " input pixels, and a kernel index of " << t_kernel.size() << " entries for "
        << t_indices.size() << " stored.";
    throw std::invalid_argument(msg.str());
  }
  check_values(kOp, x_data, x_indices);
  if (x_data.ndim() != 1) {
    throw std::invalid_argument("[csr_convolve2d] x's values must be 1-D (one per entry).");
  }
  auto dtype = value_dtype(kOp, {x_data, k}, s);
  std::vector<array> in = {prepare_indptr(x_indptr, s), prepare_index(x_indices, s),
                           prepare(x_data, dtype, s),   prepare(k, dtype, s),
                           prepare_indptr(t_indptr, s), prepare_index(t_indices, s),
                           prepare_index(t_kernel, s),  prepare_indptr(c_indptr, s),
                           prepare_index(c_indices, s)};
  const int64_t acc = dtype == mx::float64 ? 8 : 4;
  if (gpu_path(s) || g.c_out * g.h_out * g.w_out * acc > cpu::kSpgemmDenseBytes) {
    return toeplitz_product(in, in[2], in[3], g, s);
  }
  return array({dim(kOp, static_cast<int64_t>(c_indices.size()), "stored entries")}, dtype,
               std::make_shared<CsrConvolve2d>(s, g), std::move(in));
}

// The gradients of the SpGEMM X @ T^T: x's values directly, k's through T^T's gather.
std::vector<array> CsrConvolve2d::vjp(const std::vector<array>& p,
                                      const std::vector<array>& cotangents,
                                      const std::vector<int>& argnums,
                                      const std::vector<array>& outputs) {
  auto s = stream();
  array k_flat = mx::reshape(p[3], {-1}, s);
  const std::vector<array> product = {p[0], p[1], p[2], p[4], p[5], mx::take(k_flat, p[6], 0, s),
                                      p[7], p[8]};
  CsrSpgemm spgemm(s, g_.c_out * g_.h_out * g_.w_out);
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 2) {
      grads.push_back(spgemm.vjp(product, cotangents, {2}, outputs)[0]);
    } else if (arg == 3) {
      array dt = spgemm.vjp(product, cotangents, {5}, outputs)[0];
      array dk = mx::scatter_add(mx::zeros_like(k_flat, s), p[6],
                                 mx::reshape(dt, {-1, 1}, s), 0, s);
      grads.push_back(mx::reshape(dk, p[3].shape(), s));
    } else {
      throw_index_grad(kOp);
    }
  }
  return grads;
}

// Bilinear in (x's values, k): one product per tangent.
std::vector<array> CsrConvolve2d::jvp(const std::vector<array>& p,
                                      const std::vector<array>& tangents,
                                      const std::vector<int>& argnums) {
  const std::vector<int64_t> sizes = {g_.h, g_.w, g_.h_out, g_.w_out, g_.top, g_.left};
  std::optional<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] != 2 && argnums[i] != 3) {
      throw_index_grad(kOp);
    }
    const array& x = argnums[i] == 2 ? tangents[i] : p[2];
    const array& k = argnums[i] == 3 ? tangents[i] : p[3];
    array term = csr_convolve2d(p[0], p[1], x, k, p[4], p[5], p[6], p[7], p[8], sizes, stream());
    out = out ? mx::add(*out, term, stream()) : term;
  }
  return {*out};
}

// vmap over x's values or k: one product per batch entry (the patterns are shared).
std::pair<std::vector<array>, std::vector<int>> CsrConvolve2d::vmap(
    const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (int i : {0, 1, 4, 5, 6, 7, 8}) {
    if (axes[i] >= 0) {
      throw std::invalid_argument(
          "[csr_convolve2d] vmap over the sparse structure is not supported.");
    }
  }
  auto s = stream();
  const std::vector<int64_t> sizes = {g_.h, g_.w, g_.h_out, g_.w_out, g_.top, g_.left};
  int size = axes[2] >= 0 ? inputs[2].shape(axes[2]) : inputs[3].shape(axes[3]);
  std::vector<array> outs;
  for (int v = 0; v < size; ++v) {
    array x = axes[2] >= 0 ? mx::take(inputs[2], v, axes[2], s) : inputs[2];
    array k = axes[3] >= 0 ? mx::take(inputs[3], v, axes[3], s) : inputs[3];
    outs.push_back(csr_convolve2d(inputs[0], inputs[1], x, k, inputs[4], inputs[5], inputs[6],
                                  inputs[7], inputs[8], sizes, s));
  }
  return {{mx::stack(outs, 0, s)}, {0}};
}

std::vector<Shape> CsrConvolve2d::output_shapes(const std::vector<array>& inputs) {
  return {{static_cast<int>(inputs[8].size())}};
}

bool CsrConvolve2d::is_equivalent(const Primitive& other) const {
  const Conv2dGeometry& o = static_cast<const CsrConvolve2d&>(other).g_;
  return g_.h == o.h && g_.w == o.w && g_.h_out == o.h_out && g_.w_out == o.w_out &&
         g_.kh == o.kh && g_.kw == o.kw && g_.top == o.top && g_.left == o.left &&
         g_.c_in == o.c_in && g_.c_out == o.c_out;
}

} // namespace mlx_sparse
