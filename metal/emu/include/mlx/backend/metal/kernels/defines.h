// Stand-in for MLX's Metal defines.h in the emulator: instantiate_kernel instantiates the
// template in C++ (the host name matters to Metal's library lookup, not here).
#pragma once
#define instantiate_kernel(name, func, ...) template decltype(func<__VA_ARGS__>) func<__VA_ARGS__>;
