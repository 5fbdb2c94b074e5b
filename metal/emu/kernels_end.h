// Included after the .metal files a C++ test compiles: takes back the Metal words that
// metal_emu.h defines as macros, so the test's own C++ (and runtime.h's names) read normally.
#undef device
#undef constant
#undef thread
#undef threadgroup
#undef kernel
#undef buffer
#undef host_name
#undef thread_position_in_grid
#undef threads_per_grid
#undef thread_position_in_threadgroup
#undef thread_index_in_threadgroup
#undef threadgroup_position_in_grid
#undef threadgroups_per_grid
#undef threads_per_threadgroup
#undef thread_index_in_simdgroup
#undef simdgroup_index_in_threadgroup
#undef simdgroups_per_threadgroup
#undef threads_per_simdgroup
