#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace mlx_sparse::cpu {

namespace {

int default_threads() {
  if (const char* env = std::getenv("MLX_SPARSE_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) {
      return n;
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
 public:
  explicit Pool(int n) {
    start(n);
  }
  ~Pool() {
    stop();
  }

  int size() const {
    return static_cast<int>(workers_.size()) + 1;
  }

  void resize(int n) {
    std::lock_guard<std::mutex> run(run_mutex_);
    stop();
    start(n);
  }

  void run(int64_t n_tasks, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> run(run_mutex_, std::try_to_lock);
    if (!run.owns_lock() || workers_.empty() || n_tasks <= 1) {
      for (int64_t t = 0; t < n_tasks; ++t) {
        fn(t);
      }
      return;
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void start(int n) {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = false;
    stop_flag_ = false;
    // Each worker starts from the current generation, read here under the lock: a job
    // posted before the thread first runs must still count as new to it.
    for (int i = 1; i < std::max(1, n); ++i) {
      workers_.emplace_back([this, seen = generation_.load()] { loop(seen); });
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
      stop_flag_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) {
      w.join();
    }
    workers_.clear();
  }

  void work() {
    for (int64_t t = next_.fetch_add(1); t < n_tasks_; t = next_.fetch_add(1)) {
      (*fn_)(t);
    }
  }

  void loop(uint64_t seen) {
    while (true) {
      // Spin briefly before sleeping: products come back to back in a loop, and a worker
      // that sleeps is often woken on the caller's core, halving the pool for that call.
      auto spin_end = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      while (generation_.load(std::memory_order_acquire) == seen &&
             !stop_flag_.load(std::memory_order_relaxed) &&
             std::chrono::steady_clock::now() < spin_end) {
        std::this_thread::yield();
      }
      {
        std::unique_lock<std::mutex> lk(m_);
        wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) {
          return;
        }
        seen = generation_.load();
      }
      work();
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) {
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_; // one job at a time
  std::mutex m_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  int pending_ = 0;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::atomic<bool> stop_flag_{false};
  static constexpr int kSpinMicros = 300;
};

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

} // namespace

int num_threads() {
  return pool().size();
}

void set_num_threads(int n) {
  pool().resize(std::max(1, n));
}

void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn) {
  pool().run(n_tasks, fn);
}

} // namespace mlx_sparse::cpu
