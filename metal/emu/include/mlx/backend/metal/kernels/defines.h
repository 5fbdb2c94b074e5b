// Stand-in for MLX's Metal defines.h in the emulator: instantiate_kernel instantiates the
// template in C++ and, in the registry's generated files (MS_EMU_REGISTRY, see
// scripts/metal_emulator_kernels.py), registers the host name with the kernel's adapter;
// with MS_LIST_HOST_NAMES it names the kernel as MLX's does (metal_emulator_tests.sh lists them).
#pragma once

#define MS_EMU_CAT2(a, b) a##b
#define MS_EMU_CAT(a, b) MS_EMU_CAT2(a, b)
#ifdef MS_EMU_REGISTRY
#define instantiate_kernel(name, func, ...)                                              \
  template decltype(func<__VA_ARGS__>) func<__VA_ARGS__>;                                \
  [[maybe_unused]] static const bool MS_EMU_CAT(ms_emu_registered_, __COUNTER__) =       \
      ms_emu::register_kernel(name, &ms_emu_adapter_##func<__VA_ARGS__>, ms_emu_buffers_##func);
#elif defined(MS_LIST_HOST_NAMES) // as MLX's, for the host-name listing (metal_attributes.h)
#define instantiate_kernel(name, func, ...) \
  template [[host_name(name)]] [[kernel]] decltype(func<__VA_ARGS__>) func<__VA_ARGS__>;
#else
#define instantiate_kernel(name, func, ...) template decltype(func<__VA_ARGS__>) func<__VA_ARGS__>;
#endif
