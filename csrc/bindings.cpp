// Python bindings of ops.h (module mlx_sparse._ext). The Python package wraps these in
// CSRArray; the names are the C++ op names.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "emu/emulator.h"
#include "ops.h"
#include "ops/common.h"

namespace nb = nanobind;
using namespace nb::literals;
using namespace mlx_sparse;

NB_MODULE(_ext, m) {
  nb::module_::import_("mlx.core");
  m.doc() = "C++ core of mlx_sparse: CSR primitives for MLX.";
  num_threads(); // starts the CPU pool here, never inside a kernel on MLX's stream thread
  for (const auto& problem : pool_env_problems()) {
    if (PyErr_WarnEx(PyExc_RuntimeWarning, problem.c_str(), 1) != 0) {
      throw nb::python_error();
    }
  }

  nb::class_<RowLengths>(m, "RowLengths",
                         "Longest row of A and of A^T (-1: not known), for the GPU's choice of "
                         "product kernel.")
      .def(nb::init<int64_t, int64_t>(), "max_row"_a = -1, "max_col"_a = -1)
      .def_ro("max_row", &RowLengths::max_row)
      .def_ro("max_col", &RowLengths::max_col)
      .def(
          "__eq__", [](const RowLengths& a, const RowLengths& b) { return a == b; },
          nb::is_operator())
      .def("__repr__", [](const RowLengths& a) {
        return "RowLengths(max_row=" + std::to_string(a.max_row) +
               ", max_col=" + std::to_string(a.max_col) + ")";
      });
  m.def("csr_spmv", &csr_spmv, "indptr"_a, "indices"_a, "data"_a, "x"_a, "n_cols"_a,
        "transpose"_a = false, "transposed"_a = std::vector<mlx::core::array>{},
        "lengths"_a = RowLengths{}, nb::kw_only(), "stream"_a = nb::none(),
        "y = A @ x (or A^T @ x); leading dims of data and x are batch dims.");
  m.def("csr_spmm", &csr_spmm, "indptr"_a, "indices"_a, "data"_a, "b"_a, "n_cols"_a,
        "transpose"_a = false, "transposed"_a = std::vector<mlx::core::array>{},
        "lengths"_a = RowLengths{}, nb::kw_only(), "stream"_a = nb::none(),
        "Y = A @ B (or A^T @ B); leading dims of data and B are batch dims.");
  m.def("csr_sddmm", &csr_sddmm, "indptr"_a, "indices"_a, "g"_a, "b"_a, nb::kw_only(),
        "stream"_a = nb::none(), "out[..., e] = <G[..., row(e), :], B[..., col(e), :]>.");
  m.def("csr_softmax", &csr_softmax, "indptr"_a, "indices"_a, "data"_a, "n_cols"_a, nb::kw_only(),
        "stream"_a = nb::none(), "Row-wise softmax of the stored values, [..., nnz].");
  m.def("csr_todense", &csr_todense, "indptr"_a, "indices"_a, "data"_a, "n_cols"_a,
        nb::kw_only(), "stream"_a = nb::none(), "Dense [..., m, n] matrix, duplicates summed.");
  m.def("csr_transpose", &csr_transpose, "indptr"_a, "indices"_a, "n_cols"_a, nb::kw_only(),
        "stream"_a = nb::none(), "A^T's structure: [indptr_t, indices_t, perm].");
  m.def("csr_rows", &csr_rows, "indptr"_a, "indices"_a, nb::kw_only(), "stream"_a = nb::none(),
        "The row of each stored entry.");
  m.def("csr_cg_step", &csr_cg_step, "indptr"_a, "indices"_a, "data"_a, "state"_a, "tol2"_a,
        nb::kw_only(), "stream"_a = nb::none(),
        "One fused cg iteration on the CPU: state [x | r | p | Ap | rz, go, it] -> the next.");
  m.def("csr_row_gather_structure", &csr_row_gather_structure, "indptr"_a, "indices"_a, "rows"_a,
        nb::kw_only(), "stream"_a = nb::none(), nb::call_guard<nb::gil_scoped_release>(),
        "Structure [new_indptr, new_indices] of A[rows] (evaluates its inputs).");
  m.def("csr_row_gather", &csr_row_gather, "indptr"_a, "data"_a, "rows"_a, "new_indptr"_a,
        nb::kw_only(), "stream"_a = nb::none(), "Values of A[rows], [..., new_nnz].");
  m.def("csr_sum_duplicates", &csr_sum_duplicates, "data"_a, "slot"_a, "n_out"_a, nb::kw_only(),
        "stream"_a = nb::none(), "out[..., slot[e]] += data[..., e].");
  m.def("csr_spgemm", &csr_spgemm, "a_indptr"_a, "a_indices"_a, "a_data"_a, "b_indptr"_a,
        "b_indices"_a, "b_data"_a, "c_indptr"_a, "c_indices"_a, "n_cols_b"_a, nb::kw_only(),
        "stream"_a = nb::none(), "Values of A @ B on the pattern C (masked product).");
  m.def("csr_spgemm_workspace", &csr_spgemm_workspace, "a_indptr"_a, "a_indices"_a, "b_indptr"_a,
        "b_indices"_a, "n_cols_b"_a, nb::kw_only(), "stream"_a = nb::none(),
        "Offsets (int64) of the rows' hash tables in spgemm's GPU workspace.");
  m.def("csr_spgemm_count", &csr_spgemm_count, "a_indptr"_a, "a_indices"_a, "b_indptr"_a,
        "b_indices"_a, "workspace"_a, "slots"_a, "n_cols_b"_a, nb::kw_only(),
        "stream"_a = nb::none(), "C's indptr (int64): running count of distinct columns per row.");
  m.def("csr_spgemm_fill", &csr_spgemm_fill, "a_indptr"_a, "a_indices"_a, "b_indptr"_a,
        "b_indices"_a, "workspace"_a, "slots"_a, "c_indptr"_a, "nnz_c"_a, "n_cols_b"_a,
        nb::kw_only(), "stream"_a = nb::none(), "C's indices: each row's columns, ascending.");
  m.def("csr_spgemm_symbolic", &csr_spgemm_symbolic, "a_indptr"_a, "a_indices"_a, "b_indptr"_a,
        "b_indices"_a, "n_cols_b"_a, nb::kw_only(), "stream"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(),
        "Canonical pattern [indptr, indices] of A @ B (evaluates its inputs).");
  m.def("csr_convolve2d", &csr_convolve2d, "x_indptr"_a, "x_indices"_a, "x_data"_a, "k"_a,
        "t_indptr"_a, "t_indices"_a, "t_kernel"_a, "c_indptr"_a, "c_indices"_a, "sizes"_a,
        nb::kw_only(), "stream"_a = nb::none(),
        "Values of convolve2d on CSR images (X @ T^T) at the output pattern C.");
  m.def("csr_convolve2d_symbolic", &csr_convolve2d_symbolic, "x_indptr"_a, "x_indices"_a,
        "sizes"_a, nb::kw_only(), "stream"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(),
        "Canonical output pattern [indptr, indices] of convolve2d on CSR images (evaluates x).");
  m.def("coo_tocsr", &coo_tocsr, "rows"_a, "cols"_a, "m"_a, "n"_a, "sum_duplicates"_a,
        nb::kw_only(), "stream"_a = nb::none(), nb::call_guard<nb::gil_scoped_release>(),
        "CSR pattern [indptr, indices, slot] of COO entries (evaluates its inputs).");
  m.def("_coo_tocsr_composed", &detail::coo_tocsr_composed, "rows"_a, "cols"_a, "m"_a, "n"_a,
        "sum_duplicates"_a, nb::kw_only(), "stream"_a = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(),
        "coo_tocsr's GPU path on any stream (for tests).");
  m.def(
      "flash_attention",
      [](const array& q, const array& k, const array& v, const array& row_ptr, const array& col,
         const array& t_ptr, const array& t_row, const array& t_block, int block_size,
         float scale, const std::optional<array>& bias, const std::optional<array>& mask,
         StreamOrDevice s) {
        return flash_attention(q, k, v, row_ptr, col, t_ptr, t_row, t_block, bias, mask,
                               block_size, scale, s);
      },
      "q"_a, "k"_a, "v"_a, "row_ptr"_a, "col"_a, "t_ptr"_a, "t_row"_a, "t_block"_a,
      "block_size"_a, "scale"_a, "bias"_a = nb::none(), "mask"_a = nb::none(), nb::kw_only(),
      "stream"_a = nb::none(),
      "Block-sparse flash attention over a block CSR layout: [o, lse].");
  m.def("bsr_spmm", &bsr_spmm, "indptr"_a, "indices"_a, "data"_a, "x"_a,
        "transposed"_a = std::vector<mlx::core::array>{}, nb::kw_only(), "stream"_a = nb::none(),
        "Y = A @ X for a block CSR A (data (..., nnzb, R, C)); leading dims are batch dims.");
  m.def("bsr_sddmm", &bsr_sddmm, "indptr"_a, "indices"_a, "g"_a, "b"_a, "block_rows"_a,
        "block_cols"_a, "transposed"_a = std::vector<mlx::core::array>{}, nb::kw_only(),
        "stream"_a = nb::none(),
        "out[..., e] = (G @ B^T) at stored block e, (..., nnzb, R, C).");
  m.def("num_threads", &num_threads, "Threads used by the CPU kernels.");
  m.def("set_num_threads", &set_num_threads, "n"_a,
        "Set the threads used by the CPU kernels: 1 <= n <= max(256, 8 x hardware threads);\n"
        "other values raise ValueError. MLX_SPARSE_NUM_THREADS sets the starting size (an\n"
        "invalid value is ignored with a RuntimeWarning at import).");
  m.def("kernel_isa", &kernel_isa, "Instruction set of the CPU kernels in use.");
  m.def("gpu_backend", []() -> std::optional<std::string> { return gpu_backend(); },
        "GPU backend this build has kernels for ('metal', 'cuda'), or None.");
  m.def("metal_compile_all", &metal_compile_all, nb::call_guard<nb::gil_scoped_release>(),
        "On Metal, compile every kernel family now; returns {family: error} for those that\n"
        "failed (empty when all compiled, and on other backends).");
  // The Metal emulator, for tests on Linux (csrc/emu/emulator.h; docs/developer/metal_emulator.md).
  m.def("metal_emulator_available", &emu::available,
        "Whether this build has the Metal emulator (-DMLX_SPARSE_METAL_EMULATOR=ON).");
  m.def("set_metal_emulator", &emu::set_enabled, "on"_a,
        "Run the primitives evaluated on the CPU through their Metal kernels on the emulator\n"
        "(float64 stays on the CPU kernels). Raises RuntimeError in a build without it.");
  m.def("metal_emulator_errors", &emu::take_errors,
        "Errors of emulated kernels since the last call, each naming its kernel.");
  m.def("metal_emulator_kernels_run", &emu::kernels_run,
        "Host names of the Metal kernels that have run on the emulator.");
  m.def("metal_emulator_kernels", &emu::kernels, "Host names of every emulated Metal kernel.");
}
