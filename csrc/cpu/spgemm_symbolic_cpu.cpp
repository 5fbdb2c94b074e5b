// eval_cpu of spgemm's symbolic steps (workspace, count, fill): rows in blocks on the
// kernel thread pool, each block with its own dense marker (cpu/spgemm_pattern.h).
#include <numeric>

#include "cpu/eval_common.h"
#include "cpu/spgemm_pattern.h"
#include "cpu/thread_pool.h"
#include "gpu/core/spgemm.h"
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

// Runs row(i, mark, cols) for every row of A on the pool; `cols` is emptied before each row.
template <typename I, typename F>
void each_row(const cpu::SpgemmPattern<I>& pat, int64_t work, F row) {
  const int64_t m = pat.args.m;
  const int64_t parts =
      work < (1 << 14) ? 1 : std::min<int64_t>(std::max<int64_t>(m, 1), cpu::num_threads() * 4);
  cpu::parallel_for(parts, [&](int64_t t) {
    std::vector<int64_t> mark(pat.args.n_cols_b, -1);
    std::vector<I> cols;
    for (int64_t i = m * t / parts; i < m * (t + 1) / parts; ++i) {
      cols.clear();
      pat.row(i, mark, cols);
      row(i, cols);
    }
  });
}

template <typename I>
void count_rows(const cpu::SpgemmPattern<I>& pat, int64_t* c_indptr) {
  c_indptr[0] = 0;
  each_row(pat, pat.args.a_nnz * 8, [&](int64_t i, const std::vector<I>& cols) {
    c_indptr[i + 1] = static_cast<int64_t>(cols.size());
  });
  std::partial_sum(c_indptr, c_indptr + pat.args.m + 1, c_indptr);
}

template <typename I>
void fill_rows(const cpu::SpgemmPattern<I>& pat, const int64_t* c_indptr, I* c_cols,
               int64_t nnz) {
  each_row(pat, pat.args.a_nnz * 8, [&](int64_t i, const std::vector<I>& cols) {
    const gpu::Range cr = gpu::row_range(c_indptr, i, nnz);
    const int64_t len = std::min<int64_t>(cr.end - cr.start, cols.size());
    std::copy(cols.begin(), cols.begin() + len, c_cols + cr.start);
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

// Runs fn(pattern) on the stream's worker, with the pattern in A's index type.
template <typename F>
void dispatch(mlx::core::Stream s, const std::vector<array>& in, int64_t n_cols_b, F fn) {
  const bool wide = in[0].dtype() == mlx::core::int64;
  const std::vector<array> inputs = in;
  mlx::core::cpu::get_command_encoder(s).dispatch([=]() {
    if (wide) {
      fn(pattern_of<int64_t>(inputs, n_cols_b));
    } else {
      fn(pattern_of<int32_t>(inputs, n_cols_b));
    }
  });
}

} // namespace

void CsrSpgemmWorkspace::eval_cpu(const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  int64_t* offsets = out.data<int64_t>();
  dispatch(stream(), in, n_cols_b_,
           [=](const auto& pat) { workspace_rows(pat, offsets); });
}

void CsrSpgemmCount::eval_cpu(const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  int64_t* c_indptr = out.data<int64_t>();
  dispatch(stream(), in, n_cols_b_, [=](const auto& pat) { count_rows(pat, c_indptr); });
}

void CsrSpgemmFill::eval_cpu(const std::vector<array>& in, array& out) {
  cpu::allocate(out);
  const int64_t* c_indptr = in[5].data<int64_t>();
  void* c_cols = out.data<void>();
  const int64_t nnz = nnz_;
  dispatch(stream(), in, n_cols_b_, [=](const auto& pat) {
    using I = std::remove_cv_t<std::remove_pointer_t<decltype(pat.a_cols)>>;
    fill_rows(pat, c_indptr, static_cast<I*>(c_cols), nnz);
  });
}

} // namespace mlx_sparse
