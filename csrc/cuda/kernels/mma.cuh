// Tensor-core building blocks of the tiled kernels (flash_attention.cu, bsr_spmm.cu,
// bsr_sddmm.cu): mma.sync m16n8k16 with float32 accumulators, ldmatrix, cp.async.
#pragma once

#include <type_traits>

#include "common.cuh"

namespace mlx_sparse::gpu {

// c += a (16 x 16, row) * b (16 x 8, col), float16 or bfloat16 in, float32 accumulated.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ unsigned shared_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// Four 8 x 8 matrices of 16-bit values from shared memory: lanes 8m .. 8m + 7 give the row
// addresses of matrix m; .trans hands each lane a column pair instead of a row pair.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row))
               : "memory");
}

// 16 bytes from global to shared memory without passing through registers (or L1).
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared_address(dst)),
               "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most `N` committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Copies 16 bytes (`n` values of T) from src to shared dst: asynchronously when the whole
// chunk is inside (`valid` == n) and aligned, else value by value with zeros past `valid`.
template <typename T>
__device__ __forceinline__ void stage_chunk(T* dst, const T* src, int valid, bool aligned) {
  constexpr int n = 16 / static_cast<int>(sizeof(T));
  if (valid >= n && aligned) {
    cp_async16(dst, src);
    return;
  }
#pragma unroll
  for (int e = 0; e < n; ++e) {
    dst[e] = e < valid ? src[e] : from_float<T>(0.0f);
  }
}

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

} // namespace mlx_sparse::gpu

namespace mlx_sparse::gpu {

// The multi-stage cp.async loop: load(step, stage) stages step `step` into buffer `stage`,
// compute(step, stage) consumes it; kStages - 1 loads are in flight while one stage computes.
// A stage is reloaded only after the barrier that follows everyone's compute on it.
template <int kStages, typename Load, typename Compute>
__device__ __forceinline__ void staged_loop(int64_t steps, Load load, Compute compute) {
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) {
      load(s, s);
    }
    cp_async_commit();
  }
  for (int64_t s = 0; s < steps; ++s) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    const int64_t next = s + kStages - 1;
    if (next < steps) {
      load(next, static_cast<int>(next % kStages));
    }
    cp_async_commit();
    compute(s, static_cast<int>(s % kStages));
  }
}

} // namespace mlx_sparse::gpu
