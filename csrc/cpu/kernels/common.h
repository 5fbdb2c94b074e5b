// Shared pieces of the CPU kernels: dtype dispatch, CSR row checks and row partitioning.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/thread_pool.h"
#include "mlx/types/half_types.h"
#include "params.h"

#ifndef MLX_SPARSE_ISA
#error "MLX_SPARSE_ISA must name the instruction set this file is built for"
#endif

namespace mlx_sparse::cpu::MLX_SPARSE_ISA {

using mlx::core::bfloat16_t;
using mlx::core::float16_t;

// Accumulation type: float32 for the 16-bit types, the value type otherwise.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename F>
decltype(auto) dispatch_value(ValueType v, F&& f) {
  switch (v) {
    case ValueType::float16:
      return f(float16_t{});
    case ValueType::bfloat16:
      return f(bfloat16_t{});
    case ValueType::float64:
      return f(double{});
    default:
      return f(float{});
  }
}

template <typename F>
decltype(auto) dispatch_index(IndexType t, F&& f) {
  return t == IndexType::int64 ? f(int64_t{}) : f(int32_t{});
}

// Records the first bad row seen by any thread; kernels skip bad rows instead of reading
// out of bounds, and the primitive turns the report into an error naming the op.
class StatusSink {
 public:
  void bad_indptr(int64_t row, int64_t value) {
    record(row, value, true);
  }
  void bad_column(int64_t row, int64_t col) {
    record(row, col, false);
  }
  KernelStatus status() const {
    KernelStatus s;
    s.row = row_.load();
    s.value = value_;
    s.bad_indptr = bad_indptr_;
    return s;
  }

 private:
  void record(int64_t row, int64_t value, bool indptr) {
    int64_t none = -1;
    if (row_.load(std::memory_order_relaxed) < 0 && row_.compare_exchange_strong(none, row)) {
      value_ = value;
      bad_indptr_ = indptr;
    }
  }
  std::atomic<int64_t> row_{-1};
  int64_t value_ = 0;
  bool bad_indptr_ = false;
};

// Row i's entry range, or false (and a report) when indptr breaks 0 <= start <= end <= nnz.
template <typename I>
inline bool row_range(const I* indptr, int64_t i, int64_t nnz, int64_t& start, int64_t& end,
                      StatusSink& sink) {
  start = static_cast<int64_t>(indptr[i]);
  end = static_cast<int64_t>(indptr[i + 1]);
  if (start < 0 || start > end || end > nnz) {
    sink.bad_indptr(i, start < 0 || start > nnz ? start : end);
    return false;
  }
  return true;
}

// Column indices of a row are all in [0, n)? Checked before a row is used.
template <typename I>
inline bool columns_ok(const I* indices, int64_t start, int64_t end, int64_t n, int64_t row,
                       StatusSink& sink) {
  using U = std::make_unsigned_t<I>;
  U bad = 0;
  for (int64_t p = start; p < end; ++p) {
    bad |= static_cast<U>(static_cast<U>(indices[p]) >= static_cast<U>(n));
  }
  if (bad) {
    for (int64_t p = start; p < end; ++p) {
      if (static_cast<U>(indices[p]) >= static_cast<U>(n)) {
        sink.bad_column(row, static_cast<int64_t>(indices[p]));
        break;
      }
    }
    return false;
  }
  return true;
}

// Splits rows [0, m) into at most `parts` blocks of about equal work, where a row costs
// (its entries + 1); boundaries[0..parts] are found by binary search on indptr.
template <typename I>
inline int64_t partition_rows(const I* indptr, int64_t m, int64_t parts, int64_t* bounds) {
  int64_t total = static_cast<int64_t>(indptr[m]) + m;
  parts = std::max<int64_t>(1, std::min(parts, m));
  bounds[0] = 0;
  for (int64_t t = 1; t < parts; ++t) {
    int64_t target = total * t / parts;
    int64_t lo = bounds[t - 1], hi = m;
    while (lo < hi) { // first row r with indptr[r] + r >= target
      int64_t mid = (lo + hi) / 2;
      if (static_cast<int64_t>(indptr[mid]) + mid < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    bounds[t] = lo;
  }
  bounds[parts] = m;
  return parts;
}

constexpr int64_t kMaxParts = 256;
// Work (in multiply-adds) below which a kernel runs on the calling thread alone.
constexpr int64_t kSerialWork = 1 << 15;

// Runs fn(batch, row_begin, row_end) over the batch and balanced row blocks.
// Falls back to even row splits when indptr itself is untrusted (checked per row by fn).
template <typename I, typename F>
void parallel_rows(const I* indptr, int64_t m, int64_t nnz, int64_t batch, int64_t work_per_entry,
                   F&& fn) {
  int64_t work = (nnz + m) * std::max<int64_t>(1, work_per_entry) * batch;
  int64_t threads = num_threads();
  int64_t parts = 1;
  if (work >= kSerialWork && threads > 1) {
    parts = std::min<int64_t>(kMaxParts, threads * 4);
  }
  int64_t bounds[kMaxParts + 1];
  // indptr[m] is only trusted for balancing when it is sane; rows are checked again later.
  bool sane = m == 0 || (indptr[0] == 0 && static_cast<int64_t>(indptr[m]) == nnz);
  if (sane) {
    parts = partition_rows(indptr, m, parts, bounds);
  } else {
    parts = std::max<int64_t>(1, std::min(parts, m));
    for (int64_t t = 0; t <= parts; ++t) {
      bounds[t] = m * t / parts;
    }
  }
  auto task = [&](int64_t t) {
    int64_t b = t / parts, blk = t % parts;
    fn(b, bounds[blk], bounds[blk + 1]);
  };
  parallel_for(parts * batch, task);
}

// Runs fn(batch, row_begin, row_end) over the batch and even row blocks: for kernels whose
// cost per row does not follow its entries (todense writes every dense row in full).
template <typename F>
void parallel_even_rows(int64_t m, int64_t batch, int64_t work, F&& fn) {
  int64_t threads = num_threads();
  int64_t parts = work >= kSerialWork && threads > 1 ? std::min<int64_t>(kMaxParts, threads * 4) : 1;
  parts = std::max<int64_t>(1, std::min(parts, m));
  parallel_for(parts * batch, [&](int64_t t) {
    int64_t b = t / parts, blk = t % parts;
    fn(b, m * blk / parts, m * (blk + 1) / parts);
  });
}

} // namespace mlx_sparse::cpu::MLX_SPARSE_ISA
