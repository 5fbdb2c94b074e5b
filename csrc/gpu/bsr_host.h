// What the hosts of bsr_spmm and bsr_sddmm share (csrc/gpu/bsr_*_gpu.cpp): one argument list
// for the tiled kernel (square blocks of 16, 32, 64) and the one-value-per-thread kernel.
#pragma once

#include <string>

#include "gpu/core/bsr.h"
#include "gpu/host.h"
#include "gpu/launch.h"

namespace mlx_sparse::gpu {

// `op`'s tiled kernel over `tiled_grid`, or its per-value kernel over count x batch values.
inline void launch_bsr(Launch& l, const std::string& op, const array& indptr,
                       const array& indices, const array& x, const array& y, array& out,
                       const BsrArgs& a, Dims tiled_grid, int64_t count, int64_t batch) {
  if (bsr_tiled(a.R, a.C)) {
    l.kernel(kernel_name(op.c_str(), op + "_bs" + std::to_string(a.R), out.dtype(),
                         indptr.dtype()),
             tiled_grid, {kBsrThreads}, In{indptr}, In{indices}, In{x}, In{y}, Out{out}, a);
  } else {
    l.kernel(kernel_name(op.c_str(), op, out.dtype(), indptr.dtype()),
             {blocks_for(count), static_cast<unsigned>(batch)}, {kBlock}, In{indptr},
             In{indices}, In{x}, In{y}, Out{out}, a);
  }
}

} // namespace mlx_sparse::gpu
