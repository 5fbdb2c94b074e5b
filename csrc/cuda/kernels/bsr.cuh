// The entry points of the bsr_* kernel files (bsr_spmm.cu, bsr_sddmm.cu; names in
// gpu/core/bsr.h): <op>_bs<16|32|64>_<T>_<I> run <op>_tiled<T, I, bs>, <op>_<T>_<I> runs
// <op>_each<T, I>; all take (indptr, cols, x, y, out, BsrArgs).
#pragma once

#include "gpu/core/bsr.h"

#define MS_BSR_ENTRY_BS(op, T, tn, I, in_, BS)                                                 \
  extern "C" __global__ void __launch_bounds__(kBsrThreads) op##_bs##BS##_##tn##_##in_(        \
      const I* indptr, const I* cols, const T* x, const T* y, T* out, BsrArgs a) {             \
    op##_tiled<T, I, BS>(indptr, cols, x, y, out, a);                                          \
  }
#define MS_BSR_ENTRIES(op, T, tn, I, in_)                                                      \
  MS_BSR_ENTRY_BS(op, T, tn, I, in_, 16)                                                       \
  MS_BSR_ENTRY_BS(op, T, tn, I, in_, 32)                                                       \
  MS_BSR_ENTRY_BS(op, T, tn, I, in_, 64)                                                       \
  extern "C" __global__ void op##_##tn##_##in_(const I* indptr, const I* cols, const T* x,     \
                                               const T* y, T* out, BsrArgs a) {                \
    op##_each<T, I>(indptr, cols, x, y, out, a);                                               \
  }
