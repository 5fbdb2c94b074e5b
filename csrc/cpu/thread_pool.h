// A persistent pool for the CPU kernels (MLX's CPU backend runs each stream on one thread).
#pragma once

#include <cstdint>
#include <functional>

namespace mlx_sparse::cpu {

// Threads used by the CPU kernels: MLX_SPARSE_NUM_THREADS, else all hardware threads.
int num_threads();
void set_num_threads(int n);

// Runs fn(t) for t in [0, n_tasks), on the pool and the calling thread; returns when all are
// done. A call made while the pool is busy (another stream) runs its tasks on the caller alone.
void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn);

} // namespace mlx_sparse::cpu
