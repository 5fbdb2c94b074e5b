#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "message.h"

namespace mlx_sparse::cpu {

namespace {

int hardware_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// MLX_SPARSE_NUM_THREADS as a pool size, or 0 (unset or invalid: `problem` says why).
int env_threads(std::string* problem) {
  const char* env = std::getenv("MLX_SPARSE_NUM_THREADS");
  if (!env) {
    return 0;
  }
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  if (end != env && *end == '\0' && n >= 1 && n <= max_threads()) {
    return static_cast<int>(n);
  }
  if (problem) {
    Message msg;
    msg << "[mlx_sparse] MLX_SPARSE_NUM_THREADS=\"" << env << "\" is ignored: it must be an "
        << "integer from 1 to " << max_threads() << "; using " << hardware_threads()
        << " threads.";
    *problem = msg.str();
  }
  return 0;
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

  void run(int64_t n_tasks, TaskRef fn) {
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
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lk(m_);
      done_.wait(lk, [&] { return pending_ == 0; });
      fn_ = nullptr;
      std::swap(error, error_);
    }
    if (error) {
      std::rethrow_exception(error);
    }
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

  // Runs tasks until none are left. An exception is kept (the first one) for run() to
  // rethrow on its caller, and ends the job: an exception leaving a worker would terminate.
  void work() noexcept {
    for (int64_t t = next_.fetch_add(1); t < n_tasks_; t = next_.fetch_add(1)) {
      try {
        (*fn_)(t);
      } catch (...) {
        next_.store(n_tasks_);
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) {
          error_ = std::current_exception();
        }
      }
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
  const TaskRef* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  int pending_ = 0;
  std::exception_ptr error_; // guarded by m_
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::atomic<bool> stop_flag_{false};
  static constexpr int kSpinMicros = 300;
};

Pool& pool() {
  static Pool p([] {
    const int n = env_threads(nullptr);
    return n > 0 ? n : hardware_threads();
  }());
  return p;
}

} // namespace

int max_threads() {
  return std::max(256, 8 * hardware_threads());
}

std::string threads_env_problem() {
  std::string problem;
  env_threads(&problem);
  return problem;
}

int num_threads() {
  return pool().size();
}

void set_num_threads(int n) {
  if (n < 1 || n > max_threads()) {
    Message msg;
    msg << "[set_num_threads] n must be from 1 to " << max_threads()
        << " (max(256, 8 x the " << hardware_threads() << " hardware threads)) but is " << n
        << ".";
    throw std::invalid_argument(msg.str());
  }
  pool().resize(n);
}

void run_tasks(int64_t n_tasks, TaskRef fn) {
  pool().run(n_tasks, fn);
}

} // namespace mlx_sparse::cpu
