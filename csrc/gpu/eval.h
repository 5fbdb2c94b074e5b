// Each primitive's GPU evaluation, written once over a launcher (gpu/launch.h) and run by
// every GPU backend: eval_gpu on CUDA and Metal (gpu/primitives_gpu.cpp), and the Metal
// emulator's tests on Linux. One file per op family: csrc/gpu/<family>_gpu.cpp.
#pragma once

#include <vector>

#include "gpu/launch.h"
#include "primitives.h"

namespace mlx_sparse::gpu {

using Inputs = std::vector<array>;

void eval(Launch& l, const CsrSpmv& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSpmm& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSddmm& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSoftmax& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrTodense& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSumDuplicates& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrRows& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSpgemm& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSpgemmWorkspace& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSpgemmCount& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrSpgemmFill& p, const Inputs& in, array& out);
void eval(Launch& l, const CsrTranspose& p, const Inputs& in, std::vector<array>& outs);
void eval(Launch& l, const FlashAttention& p, const Inputs& in, std::vector<array>& outs);
void eval(Launch& l, const FlashAttentionGrad& p, const Inputs& in, std::vector<array>& outs);
void eval(Launch& l, const BsrSpmm& p, const Inputs& in, array& out);
void eval(Launch& l, const BsrSddmm& p, const Inputs& in, array& out);

} // namespace mlx_sparse::gpu
