// convolve2d on the CPU: eval_cpu of the numeric primitive, and the host-side symbolic phase
// (the output pattern), which marks each row's reached pixels in a bitmap of one output
// plane, run by run, and reads them back in order: no sort, no per-term marker.
#include <bit>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>

#include "cpu/convolve2d.h"
#include "cpu/eval_common.h"
#include "cpu/host_csr.h"
#include "cpu/thread_pool.h"
#include "mlx/transforms.h"
#include "ops/common.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

constexpr const char* kOp = "csr_convolve2d";

static_assert(std::endian::native == std::endian::little, "bitmaps are read as bytes and words");

// Sets bits [begin, end) of a bitmap with a spare word at its end: runs of up to 57 bits
// (kernels up to 57 wide) by one unaligned 64-bit or, without a branch per word.
void set_bits(uint64_t* words, int64_t begin, int64_t end) {
  if (end - begin <= 57) {
    unsigned char* at = reinterpret_cast<unsigned char*>(words) + (begin >> 3);
    uint64_t w;
    std::memcpy(&w, at, 8);
    w |= ((uint64_t(1) << (end - begin)) - 1) << (begin & 7);
    std::memcpy(at, &w, 8);
    return;
  }
  for (int64_t b = begin; b < end; ++b) {
    words[b >> 6] |= uint64_t(1) << (b & 63);
  }
}

// Set bits of a word, without the library call that std::popcount is on baseline x86-64.
int64_t bit_count(uint64_t v) {
  v -= (v >> 1) & 0x5555555555555555ULL;
  v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
  v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return static_cast<int64_t>((v * 0x0101010101010101ULL) >> 56);
}

// The words of row i's bitmap that hold set bits, [lo, hi] (lo > hi when none).
struct Span {
  int64_t lo, hi;
};

// Marks the output pixels row i of x reaches in `bits` (one plane).
template <typename I>
Span mark_row(const Conv2dGeometry& g, const cpu::Pixels& pixels, const I* xp, const I* xc,
              int64_t i, uint64_t* bits) {
  Span span{std::numeric_limits<int64_t>::max(), -1};
  for (int64_t q = xp[i]; q < static_cast<int64_t>(xp[i + 1]); ++q) {
    pixels.with(xc[q], [&](int64_t, int64_t y, int64_t x) {
      cpu::each_run(g, y, x, [&](int64_t, int64_t off, int64_t b0, int64_t b1) {
        set_bits(bits, off + b0, off + b1);
        span.lo = std::min(span.lo, (off + b0) >> 6);
        span.hi = std::max(span.hi, (off + b1 - 1) >> 6);
      });
    });
  }
  return span;
}

// Bitmaps of every row are kept between the two passes when they fit in this; otherwise
// the second pass marks each row again.
constexpr int64_t kKeptBitmapBytes = int64_t(32) << 20;

// Two passes over row blocks: count each row's pixels, then write them (in order, every
// output channel alike) straight into the result.
template <typename I>
std::vector<array> symbolic_impl(const array& x_indptr, const array& x_indices,
                                 const Conv2dGeometry& g) {
  const I* xp = x_indptr.data<I>();
  const I* xc = x_indices.data<I>();
  const int64_t m = static_cast<int64_t>(x_indptr.size()) - 1;
  const int64_t nnz = static_cast<int64_t>(x_indices.size());
  cpu::validate_csr<I>(kOp, "x", xp, xc, m, nnz, g.c_in * g.h * g.w);
  const int64_t plane = g.h_out * g.w_out, words = (plane + 63) / 64 + 1; // + the spare word
  const int64_t work = nnz * g.kh * g.kw * g.c_out + m;
  const int64_t parts = work < (1 << 14) ? 1 : std::clamp<int64_t>(cpu::num_threads() * 4, 1, m);
  const bool kept = m * words * 8 <= kKeptBitmapBytes;
  std::vector<uint64_t> bitmaps((kept ? m : parts) * words, 0);
  std::vector<Span> spans(kept ? m : 0);
  const cpu::Pixels pixels(g);
  auto each_block_row = [&](auto&& row) {
    cpu::parallel_for(parts, [&](int64_t t) {
      for (int64_t i = m * t / parts; i < m * (t + 1) / parts; ++i) {
        row(i, bitmaps.data() + (kept ? i : t) * words);
      }
    });
  };
  array indptr = cpu::new_index_array<I>(m + 1);
  I* counts = indptr.data<I>();
  counts[0] = 0;
  each_block_row([&](int64_t i, uint64_t* bits) {
    const Span span = mark_row(g, pixels, xp, xc, i, bits);
    int64_t n = 0;
    for (int64_t w = span.lo; w <= span.hi; ++w) {
      n += bit_count(bits[w]);
    }
    if (kept) {
      spans[i] = span;
    } else if (span.lo <= span.hi) {
      std::fill(bits + span.lo, bits + span.hi + 1, uint64_t(0));
    }
    counts[i + 1] = static_cast<I>(n * g.c_out);
  });
  int64_t total = 0; // in int64: the check below must see a sum int32 cannot hold
  for (int64_t i = 1; i <= m; ++i) {
    total += static_cast<int64_t>(counts[i]);
    counts[i] = static_cast<I>(std::min<int64_t>(total, std::numeric_limits<I>::max()));
  }
  array indices = cpu::new_index_array<I>(detail::dim(kOp, total, "stored entries"));
  I* cols = indices.data<I>();
  each_block_row([&](int64_t i, uint64_t* bits) {
    const Span span = kept ? spans[i] : mark_row(g, pixels, xp, xc, i, bits);
    I* at = cols + static_cast<int64_t>(counts[i]);
    for (int64_t w = span.lo; w <= span.hi; ++w) {
      for (uint64_t word = bits[w]; word != 0; word &= word - 1) {
        *at++ = static_cast<I>(w * 64 + std::countr_zero(word));
      }
      bits[w] = 0;
    }
    const int64_t n_plane = (static_cast<int64_t>(counts[i + 1]) - counts[i]) / g.c_out;
    for (int64_t o = 1; o < g.c_out; ++o) { // every output channel reaches the same pixels
      for (int64_t j = 0; j < n_plane; ++j) {
        at[(o - 1) * n_plane + j] = static_cast<I>(o * plane + at[j - n_plane]);
      }
    }
  });
  return {indptr, indices};
}

} // namespace

std::vector<array> csr_convolve2d_symbolic(const array& x_indptr, const array& x_indices,
                                           const std::vector<int64_t>& sizes, StreamOrDevice) {
  detail::check_structure(kOp, x_indptr, x_indices);
  const bool sane = sizes.size() == 10 &&
                    std::all_of(sizes.begin(), sizes.end(), [](int64_t v) { return v >= 0; }) &&
                    std::all_of(sizes.begin(), sizes.begin() + 4, [](int64_t v) { return v > 0; }) &&
                    std::all_of(sizes.begin() + 6, sizes.end(), [](int64_t v) { return v > 0; });
  if (!sane) {
    throw std::invalid_argument(
        "[csr_convolve2d] the symbolic phase takes 10 sizes [h, w, h_out, w_out, top, left, kh, "
        "kw, c_in, c_out]: positive, the offsets non-negative.");
  }
  const Conv2dGeometry g{sizes[0], sizes[1], sizes[2], sizes[3], sizes[6],
                         sizes[7], sizes[4], sizes[5], sizes[8], sizes[9]};
  const bool wide = x_indptr.dtype() == mlx::core::int64;
  if (g.c_out * g.h_out * g.w_out > (wide ? INT64_MAX : INT32_MAX)) {
    throw std::overflow_error("[csr_convolve2d] the output has more columns than int32 indices "
                              "hold; use int64 indices.");
  }
  std::vector<array> in = {mlx::core::contiguous(x_indptr), mlx::core::contiguous(x_indices)};
  mlx::core::eval(in);
  try {
    return wide ? symbolic_impl<int64_t>(in[0], in[1], g) : symbolic_impl<int32_t>(in[0], in[1], g);
  } catch (const std::bad_alloc&) {
    detail::throw_out_of_memory(kOp, "finding the output's pattern on the host");
  }
}

void CsrConvolve2d::eval_cpu(const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  Convolve2dParams p;
  p.x = cpu::csr_view(in[0], in[1], g_.c_in * g_.h * g_.w);
  p.x_data = in[2].data<void>();
  p.k = in[3].data<void>();
  p.c = cpu::csr_view(in[7], in[8], g_.c_out * g_.h_out * g_.w_out);
  p.c_data = out.data<void>();
  p.vtype = cpu::value_type(out.dtype());
  p.g = g_;
  cpu::launch(stream(), &cpu::convolve2d, p);
}

} // namespace mlx_sparse
