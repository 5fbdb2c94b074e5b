# The Metal emulator as a static library, mlx_sparse_metal_emu: the scheduler (metal/emu),
# the kernel registry (metal/emu/registry.h) and every kernel family of metal/*.metal,
# rewritten and given adapters by scripts/metal_emulator_kernels.py at build time
# (docs/developer/metal_emulator.md). Needs no MLX and no Metal.
#
#   set(MLX_SPARSE_METAL_EMU_SOURCE_DIR <repository root>) # default: this file's folder/..
#   set(MLX_SPARSE_METAL_EMU_BINARY_DIR <folder>) # default: CMAKE_CURRENT_BINARY_DIR/metal-emu
#   include(cmake/metal_emulator.cmake)
#   target_link_libraries(<target> PRIVATE mlx_sparse_metal_emu)
#   # then #include "registry.h" (or host.h, the same in plain types)
#
# Needs a Python 3 interpreter: Python_EXECUTABLE if set, else Python3_EXECUTABLE, else one found.
if(NOT MLX_SPARSE_METAL_EMU_SOURCE_DIR)
  get_filename_component(MLX_SPARSE_METAL_EMU_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
endif()
if(NOT MLX_SPARSE_METAL_EMU_BINARY_DIR)
  set(MLX_SPARSE_METAL_EMU_BINARY_DIR ${CMAKE_CURRENT_BINARY_DIR}/metal-emu)
endif()
set(_emu_python ${Python_EXECUTABLE})
if(NOT _emu_python)
  set(_emu_python ${Python3_EXECUTABLE})
endif()
if(NOT _emu_python)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(_emu_python ${Python3_EXECUTABLE})
endif()

set(_emu_src ${MLX_SPARSE_METAL_EMU_SOURCE_DIR})
set(_emu_gen ${MLX_SPARSE_METAL_EMU_BINARY_DIR})
file(GLOB _emu_families CONFIGURE_DEPENDS ${_emu_src}/metal/*.metal)
file(GLOB _emu_inputs CONFIGURE_DEPENDS ${_emu_src}/metal/*.h ${_emu_src}/csrc/gpu/core/*.h)
set(_emu_generated ${_emu_gen}/families.cpp)
foreach(_family ${_emu_families})
  get_filename_component(_name ${_family} NAME_WE)
  list(APPEND _emu_generated ${_emu_gen}/kernels_${_name}.cpp)
endforeach()
add_custom_command(
  OUTPUT ${_emu_generated}
  COMMAND ${_emu_python} ${_emu_src}/scripts/metal_emulator_kernels.py ${_emu_src}/metal ${_emu_gen}
  DEPENDS ${_emu_families} ${_emu_inputs} ${_emu_src}/scripts/metal_emulator_kernels.py
  COMMENT "Preparing the Metal kernels for the Metal emulator"
  VERBATIM)

add_library(mlx_sparse_metal_emu STATIC
  ${_emu_src}/metal/emu/fiber.cpp ${_emu_src}/metal/emu/runtime.cpp
  ${_emu_src}/metal/emu/registry.cpp ${_emu_src}/metal/emu/host.cpp ${_emu_generated})
set_target_properties(mlx_sparse_metal_emu PROPERTIES POSITION_INDEPENDENT_CODE ON)
# fiber.cpp switches stacks by `ret`, which a CET shadow stack forbids: its object must not be
# marked shadow-stack compatible (some toolchains default to -fcf-protection)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND NOT MSVC)
  set_source_files_properties(${_emu_src}/metal/emu/fiber.cpp PROPERTIES
    COMPILE_OPTIONS -fcf-protection=none)
endif()
target_compile_features(mlx_sparse_metal_emu PUBLIC cxx_std_20)
# -O2 whatever the build type: the emulator runs the whole test suite through the kernels
target_compile_options(mlx_sparse_metal_emu PRIVATE -O2)
target_compile_definitions(mlx_sparse_metal_emu PRIVATE MLX_SPARSE_METAL_CHECK)
# The generated files find their rewritten sources under the binary folder, the Metal
# stand-ins under metal/emu/include and the shared per-thread code under csrc/.
target_include_directories(mlx_sparse_metal_emu
  PUBLIC ${_emu_src}/metal/emu
  PRIVATE ${_emu_gen} ${_emu_src}/metal/emu/include ${_emu_src}/csrc)
find_package(Threads REQUIRED)
target_link_libraries(mlx_sparse_metal_emu PUBLIC Threads::Threads)
