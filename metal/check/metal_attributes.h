// Metal's attributes as C++, shared by the type-check stand-in and the emulator: `[[buffer(0)]]`
// and the like become `[[]]`, which C++ accepts; `[[host_name("x")]]` too, unless
// MS_LIST_HOST_NAMES asks for the names in the preprocessed output (scripts/check_metal.sh
// compares them with the CUDA kernels' names). The emulator hands positions in (runtime.h).
#pragma once

#define kernel
#define buffer(n)
#ifdef MS_LIST_HOST_NAMES
#define host_name(x) ms_host_name = x
#else
#define host_name(x)
#endif
#define thread_position_in_grid
#define threads_per_grid
#define thread_position_in_threadgroup
#define thread_index_in_threadgroup
#define threadgroup_position_in_grid
#define threadgroups_per_grid
#define threads_per_threadgroup
#define thread_index_in_simdgroup
#define simdgroup_index_in_threadgroup
#define simdgroups_per_threadgroup
#define threads_per_simdgroup
