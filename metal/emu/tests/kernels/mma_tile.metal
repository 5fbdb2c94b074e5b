// A small kernel in the style of MLX's steel GEMM, for the emulator's own tests of
// simdgroup_matrix: c (16 x 16, float) += a (16 x k) @ b (k x 16), four SIMD groups of one
// threadgroup, an 8 x 8 tile each. a goes through threadgroup memory and simdgroup_load; b is
// read straight into thread_elements() at the fragment layout; c is loaded and stored with
// simdgroup_load/store, transposed when `transpose_c` (c then holds its transpose).
#include <metal_simdgroup_matrix>
#include <metal_stdlib>
using namespace metal;

template <typename T>
[[kernel]] void mma_tile(
    device const T* a [[buffer(0)]], device const T* b [[buffer(1)]],
    device float* c [[buffer(2)]], constant uint& k [[buffer(3)]],
    constant bool& transpose_c [[buffer(4)]],
    uint tid [[thread_index_in_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup T staged[16 * 8];
  const uint tm = (simd / 2) * 8, tn = (simd % 2) * 8;
  const ulong2 at = transpose_c ? ulong2(tm, tn) : ulong2(tn, tm);
  simdgroup_matrix<float, 8, 8> acc;
  simdgroup_load(acc, c, 16, at, transpose_c);
  // this lane's two elements of a fragment: row `row`, columns col and col + 1 (as MLX's steel)
  const uint row = ((lane / 4) & 4) + (lane / 2) % 4, col = ((lane / 4) & 2) * 2 + (lane % 2) * 2;
  for (uint k0 = 0; k0 < k; k0 += 8) {
    staged[tid] = a[(tid / 8) * k + k0 + tid % 8];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    simdgroup_matrix<T, 8, 8> am, bm;
    simdgroup_load(am, staged, 8, ulong2(0, tm));
    bm.thread_elements()[0] = b[(k0 + row) * 16 + tn + col];
    bm.thread_elements()[1] = b[(k0 + row) * 16 + tn + col + 1];
    simdgroup_multiply_accumulate(acc, am, bm, acc);
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
  simdgroup_store(acc, c, 16, at, transpose_c);
}
