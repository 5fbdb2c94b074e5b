// A persistent pool for the CPU kernels (MLX's CPU backend runs each stream on one thread).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace mlx_sparse::cpu {

// Threads used by the CPU kernels: MLX_SPARSE_NUM_THREADS, else all hardware threads.
int num_threads();
// Throws std::invalid_argument unless 1 <= n <= max_threads().
void set_num_threads(int n);
// The largest pool: max(256, 8 x hardware threads).
int max_threads();
// Why MLX_SPARSE_NUM_THREADS is ignored (not an integer in [1, max_threads()]), or "".
std::string threads_env_problem();
// Why MLX_SPARSE_SPIN_US (the pool's spin before sleeping) is ignored, or "".
std::string spin_env_problem();

// A non-owning reference to a callable void(int64_t): handing work to the pool allocates
// nothing, so a kernel on MLX's stream thread cannot fail there.
class TaskRef {
 public:
  template <typename F>
  explicit TaskRef(F& f)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t t) { (*static_cast<F*>(o))(t); }) {}
  void operator()(int64_t t) const {
    call_(obj_, t);
  }

 private:
  void* obj_;
  void (*call_)(void*, int64_t);
};

// Runs fn(t) for t in [0, n_tasks), on the pool and the calling thread; returns when all are
// done. A call made while the pool is busy (another stream) runs its tasks on the caller alone.
// If tasks throw, the remaining tasks are skipped and the first exception is rethrown here,
// on the calling thread, once every worker has stopped.
void run_tasks(int64_t n_tasks, TaskRef fn);

template <typename F>
void parallel_for(int64_t n_tasks, F&& fn) {
  auto& f = fn;
  run_tasks(n_tasks, TaskRef(f));
}

} // namespace mlx_sparse::cpu
