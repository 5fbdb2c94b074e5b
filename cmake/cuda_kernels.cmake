# The CUDA kernels (csrc/cuda/kernels/*.cu): each compiled by nvcc to a fatbin for
# MLX_SPARSE_CUDA_ARCHS (plus PTX of the newest, for later GPUs), then embedded in the
# module as byte arrays that csrc/cuda/launch.cpp loads through the driver API.
# Defines MLX_SPARSE_FATBIN_CPP.
file(GLOB CUDA_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../csrc/cuda/kernels/*.cu)
file(GLOB CUDA_KERNEL_HEADERS CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_LIST_DIR}/../csrc/cuda/kernels/*.cuh
  ${CMAKE_CURRENT_LIST_DIR}/../csrc/gpu/core/*.h)
set(gencode "")
foreach(arch ${MLX_SPARSE_CUDA_ARCHS})
  list(APPEND gencode -gencode=arch=compute_${arch},code=sm_${arch})
endforeach()
list(GET MLX_SPARSE_CUDA_ARCHS -1 newest)
list(APPEND gencode -gencode=arch=compute_${newest},code=compute_${newest})
set(fatbins "")
foreach(src ${CUDA_KERNEL_SOURCES})
  get_filename_component(stem ${src} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/cuda/${stem}.fatbin)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/cuda
    # -std=c++20 explicitly: CMake does not pass CUDA_STANDARD to a custom nvcc command
    COMMAND ${CUDAToolkit_NVCC_EXECUTABLE} -std=c++20 -O3 -fatbin ${gencode}
            -I${CMAKE_CURRENT_LIST_DIR}/../csrc -o ${out} ${src}
    DEPENDS ${src} ${CUDA_KERNEL_HEADERS}
    COMMENT "nvcc ${stem}.cu"
    VERBATIM)
  list(APPEND fatbins ${out})
endforeach()
set(MLX_SPARSE_FATBIN_CPP ${CMAKE_CURRENT_BINARY_DIR}/cuda/fatbins.cpp)
add_custom_command(
  OUTPUT ${MLX_SPARSE_FATBIN_CPP}
  COMMAND ${Python_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/../scripts/embed_fatbins.py
          ${MLX_SPARSE_FATBIN_CPP} ${fatbins}
  DEPENDS ${fatbins} ${CMAKE_CURRENT_LIST_DIR}/../scripts/embed_fatbins.py
  COMMENT "embedding the CUDA kernels"
  VERBATIM)
