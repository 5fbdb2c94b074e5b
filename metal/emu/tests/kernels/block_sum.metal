// A small kernel in the style of spmm.metal's spmv_nnz_split, for the emulator's own tests
// (scripts/metal_emulator_tests.sh seeds bugs into copies of it): out[g] is the sum of block g
// of x, through SIMD sums, threadgroup memory and a barrier; prefix[i] is x's inclusive sum
// within i's SIMD group.
#include <metal_stdlib>
using namespace metal;

[[kernel]] void block_sum(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    device float* prefix [[buffer(2)]], constant uint& n [[buffer(3)]],
    uint3 group [[threadgroup_position_in_grid]], uint3 size [[threads_per_threadgroup]],
    uint tid [[thread_index_in_threadgroup]], uint simd [[simdgroup_index_in_threadgroup]],
    uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float partial[32];
  const uint i = group.x * size.x + tid;
  const float v = i < n ? x[i] : 0.0f;
  const float p = simd_prefix_inclusive_sum(v);
  if (i < n) {
    prefix[i] = p;
  }
  const float s = simd_sum(v);
  if (lane == 0) {
    partial[simd] = s;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (simd == 0) {
    const float t = simd_sum(lane < (size.x + 31) / 32 ? partial[lane] : 0.0f);
    if (lane == 0) {
      out[group.x] = t;
    }
  }
}
