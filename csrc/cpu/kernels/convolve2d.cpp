// convolve2d (numeric phase) on the CPU: each image row scatters its pixels into a dense
// accumulator of the output planes, kernel row by kernel row (contiguous runs: one vector
// multiply-add when the kernel row fits a register), then c's pattern gathers the sums and
// each sum is cleared as it is read. O(nnz(x) * kh * kw * c_out + nnz(c)).
#include "cpu/convolve2d.h"
#include "cpu/kernels/common.h"
#include "cpu/kernels/vec.h"

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

namespace {

template <typename T, typename A, typename I>
void convolve2d_impl(const Convolve2dParams& p) {
  using V = vec_t<A>;
  constexpr int64_t L = sizeof(V) / sizeof(A);
  const Conv2dGeometry& g = p.g;
  const auto* x_ptr = static_cast<const I*>(p.x.indptr);
  const auto* x_col = static_cast<const I*>(p.x.indices);
  const auto* x_val = static_cast<const T*>(p.x_data);
  const auto* c_ptr = static_cast<const I*>(p.c.indptr);
  const auto* c_col = static_cast<const I*>(p.c.indices);
  auto* c_val = static_cast<T*>(p.c_data);
  const int64_t kernel_rows = g.c_out * g.c_in * g.kh;
  const int64_t plane = g.h_out * g.w_out, n_out = g.c_out * plane;
  // the scratch (cpu/scratch.cpp): the kernel's rows in acc type, padded with zeros to
  // `stride`, then per part an accumulator with kConvLanes of slack for vector runs
  const int64_t stride = conv_row_stride(g.kw);
  A* const k = static_cast<A*>(p.scratch);
  const auto* k_in = static_cast<const T*>(p.k);
  for (int64_t r = 0; r < kernel_rows; ++r) {
    for (int64_t l = 0; l < stride; ++l) {
      k[r * stride + l] = l < g.kw ? static_cast<A>(k_in[r * g.kw + l]) : A(0);
    }
  }
  const int64_t chunks = (g.kw + L - 1) / L; // vectors per kernel row
  const bool vector_runs = g.kw <= kConvLanes;
  zero_outside_rows(c_ptr, p.c.m, p.c.nnz, c_val);
  const int64_t m = p.x.m; // c has as many rows (the op checks)
  const Pixels pixels(g);
  int64_t bounds[kMaxParts + 1];
  const int64_t parts = row_blocks(x_ptr, m, p.x.nnz, p.parts, bounds);
  parallel_for(parts, [&](int64_t t) {
    A* acc = k + kernel_rows * stride + t * (n_out + kConvLanes);
    std::fill(acc, acc + n_out + kConvLanes, A(0));
    for (int64_t i = bounds[t]; i < bounds[t + 1]; ++i) {
      const Range xr = row_range(x_ptr, i, p.x.nnz);
      for (int64_t q = xr.start; q < xr.end; ++q) {
        pixels.with(x_col[q], [&](int64_t ci, int64_t y, int64_t x) {
          const A v = static_cast<A>(x_val[q]);
          V vv[kConvLanes]; // v in the kernel's lanes, 0 past them (an inf adds no NaN next door)
          for (int64_t c = 0; c < chunks * vector_runs; ++c) {
            for (int64_t l = 0; l < L; ++l) {
              vv[c][l] = c * L + l < g.kw ? v : A(0);
            }
          }
          for (int64_t o = 0; o < g.c_out; ++o) {
            const A* ko = k + (o * g.c_in + ci) * g.kh * stride;
            A* out = acc + o * plane;
            each_run(g, y, x, [&](int64_t a, int64_t off, int64_t b0, int64_t b1) {
              A* dst = out + off;
              const A* kr = ko + a * stride;
              if (vector_runs && b0 == 0 && b1 == g.kw) {
                for (int64_t c = 0; c < chunks; ++c) {
                  V d, kv;
                  __builtin_memcpy(&d, dst + c * L, sizeof(V));
                  __builtin_memcpy(&kv, kr + c * L, sizeof(V));
                  d += vv[c] * kv;
                  __builtin_memcpy(dst + c * L, &d, sizeof(V));
                }
              } else {
                for (int64_t b = b0; b < b1; ++b) {
                  dst[b] += v * kr[b];
                }
              }
            });
          }
        });
      }
      // gather the sums at c's pattern, clearing each as it is read: the pattern holds every
      // pixel the row reached (csr_convolve2d_symbolic's), so acc is all zeros again after it
      const Range cr = row_range(c_ptr, i, p.c.nnz);
      const I* cols = c_col;
      T* vals = c_val;
      for (int64_t q = cr.start; q < cr.end; ++q) {
        const int64_t c = static_cast<int64_t>(cols[q]);
        const int64_t at = in_range(c, n_out) ? c : n_out; // n_out: in the zero slack
        vals[q] = static_cast<T>(acc[at]);
        acc[at] = A(0);
      }
    }
  });
}

} // namespace

void convolve2d(const Convolve2dParams& p) noexcept {
  dispatch_value(p.vtype, [&](auto tv) {
    using T = decltype(tv);
    dispatch_index(p.x.itype, [&](auto ti) { convolve2d_impl<T, acc_t<T>, decltype(ti)>(p); });
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
