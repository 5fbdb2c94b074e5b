// eval_cpu of spgemm's symbolic steps (workspace, count, fill): rows in blocks on the
// kernel thread pool, each block with its own dense marker (cpu/spgemm_pattern.h). The
// markers are allocated in eval_cpu; on the stream thread nothing allocates or throws.
#include <numeric>

#include "cpu/eval_common.h"
#include "cpu/spgemm_pattern.h"
#include "cpu/thread_pool.h"
#include "gpu/core/spgemm.h"
#include "emu/emulator.h"
#include "primitives.h"

namespace mlx_sparse {

namespace {

template <typename I>
cpu::SpgemmPattern<I> pattern_of(const std::vector<array>& in, int64_t n_cols_b) {
  return {in[0].data<I>(), in[1].data<I>(), in[2].data<I>(), in[3].data<I>(),
          gpu::SpgemmArgs{static_cast<int64_t>(in[0].size()) - 1,
                          static_cast<int64_t>(in[1].size()),
                          static_cast<int64_t>(in[2].size()) - 1,
                          static_cast<int64_t>(in[3].size()), 0, n_cols_b}};
}

// Row blocks and their markers (`parts` x n_cols_b, from eval_cpu).
struct Markers {
  int64_t* data;
  int64_t parts;
};

// Runs row(i, mark) for every row of A on the pool, block t with its own marker.
template <typename I, typename F>
void each_row(const cpu::SpgemmPattern<I>& pat, Markers mk, F row) {
  const int64_t m = pat.args.m, n = pat.args.n_cols_b;
  cpu::parallel_for(mk.parts, [&](int64_t t) {
    int64_t* mark = mk.data + t * n;
    std::fill(mark, mark + n, int64_t(-1));
    for (int64_t i = m * t / mk.parts; i < m * (t + 1) / mk.parts; ++i) {
      row(i, mark);
    }
  });
}

template <typename I>
void count_rows(const cpu::SpgemmPattern<I>& pat, Markers mk, int64_t* c_indptr) {
  c_indptr[0] = 0;
  each_row(pat, mk, [&](int64_t i, int64_t* mark) {
    int64_t count = 0;
    pat.each_column(i, mark, [&](I) { ++count; });
    c_indptr[i + 1] = count;
  });
  std::partial_sum(c_indptr, c_indptr + pat.args.m + 1, c_indptr);
}

// Each row's columns go straight into C's row (as many as it has room for), then are sorted.
template <typename I>
void fill_rows(const cpu::SpgemmPattern<I>& pat, Markers mk, const int64_t* c_indptr, I* c_cols,
               int64_t nnz) {
  each_row(pat, mk, [&](int64_t i, int64_t* mark) {
    const gpu::Range cr = gpu::row_range(c_indptr, i, nnz);
    int64_t at = cr.start;
    pat.each_column(i, mark, [&](I c) {
      if (at < cr.end) {
        c_cols[at++] = c;
      }
    });
    std::sort(c_cols + cr.start, c_cols + at);
  });
}

template <typename I>
void workspace_rows(const cpu::SpgemmPattern<I>& pat, int64_t* offsets) {
  offsets[0] = 0;
  for (int64_t i = 0; i < pat.args.m; ++i) {
    const int64_t ub =
        gpu::spgemm_bound_partial(pat.a_indptr, pat.a_cols, pat.b_indptr, i, 0, 1, pat.args);
    offsets[i + 1] = offsets[i] + gpu::spgemm_global_slots(ub, pat.args);
  }
}

// Markers for a step over A's rows, allocated here (the thread that called mx.eval).
Markers markers(mlx::core::Stream s, const std::vector<array>& in, int64_t n_cols_b) {
  const int64_t m = static_cast<int64_t>(in[0].size()) - 1;
  const int64_t parts = cpu::spgemm_row_blocks(m, static_cast<int64_t>(in[1].size()) * 8, n_cols_b);
  auto* data = static_cast<int64_t*>(cpu::scratch(s, parts * n_cols_b * int64_t(sizeof(int64_t))));
  return {data, parts};
}

// Runs fn(pattern) on the stream's worker, with the pattern in A's index type.
template <typename F>
void dispatch(mlx::core::Stream s, const std::vector<array>& in, int64_t n_cols_b, F fn) {
  const bool wide = in[0].dtype() == mlx::core::int64;
  const std::vector<array> inputs = in;
  mlx::core::cpu::get_command_encoder(s).dispatch([=]() noexcept {
    if (wide) {
      fn(pattern_of<int64_t>(inputs, n_cols_b));
    } else {
      fn(pattern_of<int32_t>(inputs, n_cols_b));
    }
  });
}

} // namespace

void CsrSpgemmWorkspace::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  int64_t* offsets = out.data<int64_t>();
  dispatch(stream(), in, n_cols_b_,
           [=](const auto& pat) { workspace_rows(pat, offsets); });
}

void CsrSpgemmCount::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  int64_t* c_indptr = out.data<int64_t>();
  const Markers mk = markers(stream(), in, n_cols_b_);
  dispatch(stream(), in, n_cols_b_, [=](const auto& pat) { count_rows(pat, mk, c_indptr); });
}

void CsrSpgemmFill::eval_cpu(const std::vector<array>& in, array& out) {
  if (emu::emulated(*this, in, out)) {
    return;
  }
  cpu::allocate(out);
  const int64_t* c_indptr = in[5].data<int64_t>();
  void* c_cols = out.data<void>();
  const int64_t nnz = nnz_;
  const Markers mk = markers(stream(), in, n_cols_b_);
  dispatch(stream(), in, n_cols_b_, [=](const auto& pat) {
    using I = std::remove_cv_t<std::remove_pointer_t<decltype(pat.a_cols)>>;
    fill_rows(pat, mk, c_indptr, static_cast<I*>(c_cols), nnz);
  });
}

} // namespace mlx_sparse
