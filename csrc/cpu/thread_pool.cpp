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

// Jobs are published in one atomic word, (generation << kIndexBits) | next task, so a worker
// claims a task of the job it saw or none: a worker that wakes late for a finished job finds
// its generation gone and touches nothing. The caller waits for the tasks to finish, not for
// every worker to check in, so a sleeping worker never delays a product the others finished.
// MLX_SPARSE_SPIN_US as microseconds in [0, 1e6], or -1 (unset or invalid: `problem` says
// why).
int64_t env_spin(std::string* problem) {
  const char* env = std::getenv("MLX_SPARSE_SPIN_US");
  if (!env) {
    return -1;
  }
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  if (end != env && *end == '\0' && v >= 0 && v <= 1000000) {
    return static_cast<int64_t>(v);
  }
  if (problem) {
    *problem = std::string("[mlx_sparse] MLX_SPARSE_SPIN_US=\"") + env + "\" is ignored: it must "
               "be an integer from 0 to 1000000 (microseconds); using 300.";
  }
  return -1;
}

// How long the caller spins for the others' tasks, and at least how long a worker spins for
// the next job, before sleeping: MLX_SPARSE_SPIN_US, else 300 microseconds. Waking a
// sleeping thread costs tens of microseconds on a VM.
int64_t spin_micros() {
  static const int64_t us = [] {
    const int64_t v = env_spin(nullptr);
    return v >= 0 ? v : int64_t{300};
  }();
  return us;
}

// Workers spin for the next job up to twice the recent gap between jobs (a product called
// between other work, as in a training loop, finds the pool awake), within these bounds; a
// program whose jobs come further apart than kMaxSpinMicros spins spin_micros() only.
// MLX_SPARSE_SPIN_US fixes the spin instead.
constexpr int64_t kMaxSpinMicros = 5000;
int64_t worker_spin_micros(int64_t gap_ema_us) {
  static const bool fixed = env_spin(nullptr) >= 0;
  if (fixed || gap_ema_us < 0 || 2 * gap_ema_us > kMaxSpinMicros) {
    return spin_micros();
  }
  return std::max(spin_micros(), 2 * gap_ema_us);
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
    if (!run.owns_lock() || workers_.empty() || n_tasks <= 1 || n_tasks > kMaxTasks) {
      for (int64_t t = 0; t < n_tasks; ++t) {
        fn(t);
      }
      return;
    }
    note_gap();
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lk(m_);
      gen = (generation(state_.load(std::memory_order_relaxed)) + 1) & kGenerationMask;
      // A job's fields sit in the slot of its generation's parity: the previous job's
      // late readers (whose claims must fail) still see theirs until this one is published.
      Job& job = jobs_[gen & 1];
      job.fn.store(&fn, std::memory_order_relaxed);
      job.n_tasks.store(n_tasks, std::memory_order_relaxed);
      finished_.store(0, std::memory_order_relaxed);
      aborted_.store(false, std::memory_order_relaxed);
      error_ = nullptr;
      state_.store(gen << kIndexBits, std::memory_order_release);
    }
    wake_.notify_all();
    work(gen);
    // The others finish within a task's time: spin for them, as a sleep here costs a
    // wake-up (tens of microseconds on a VM) on every product.
    auto all_done = [&] { return finished_.load(std::memory_order_acquire) == n_tasks; };
    if (!spin_until(all_done)) {
      std::unique_lock<std::mutex> lk(m_);
      done_.wait(lk, all_done);
    }
    last_end_ns_ = now_ns();
    std::exception_ptr error;
    {
      std::lock_guard<std::mutex> lk(m_);
      std::swap(error, error_);
    }
    if (error) {
      std::rethrow_exception(error);
    }
  }

 private:
  // Atomic (relaxed; state_'s release orders them) because a late claim may read the slot
  // while the job after next writes it; that claim then fails.
  struct Job {
    std::atomic<const TaskRef*> fn{nullptr};
    std::atomic<int64_t> n_tasks{0};
  };
  static constexpr int kIndexBits = 40;
  static constexpr int64_t kMaxTasks = int64_t{1} << (kIndexBits - 1);
  static constexpr uint64_t kGenerationMask = (uint64_t{1} << (64 - kIndexBits)) - 1;
  static constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
  static uint64_t generation(uint64_t state) {
    return state >> kIndexBits;
  }

  void start(int n) {
    std::lock_guard<std::mutex> lk(m_);
    stop_flag_ = false;
    // Each worker starts from the current generation, read here under the lock: a job
    // posted before the thread first runs must still count as new to it.
    const uint64_t seen = generation(state_.load());
    for (int i = 1; i < std::max(1, n); ++i) {
      workers_.emplace_back([this, seen] { loop(seen); });
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_flag_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) {
      w.join();
    }
    workers_.clear();
  }

  // The next task of job `gen`, or -1 when it has none left (or is no longer the job).
  int64_t claim(uint64_t gen) {
    uint64_t s = state_.load(std::memory_order_acquire);
    while (generation(s) == gen) {
      const int64_t t = static_cast<int64_t>(s & kIndexMask);
      if (t >= jobs_[gen & 1].n_tasks.load(std::memory_order_relaxed)) {
        return -1;
      }
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return t;
      }
    }
    return -1;
  }

  // Runs tasks of job `gen` until none are left. An exception is kept (the first one) for
  // run() to rethrow on its caller, and skips the remaining tasks (they still count as
  // finished): an exception leaving a worker would terminate.
  void work(uint64_t gen) noexcept {
    for (int64_t t = claim(gen); t >= 0; t = claim(gen)) {
      const Job& job = jobs_[gen & 1]; // stays: the job cannot end before this task does
      const int64_t n_tasks = job.n_tasks.load(std::memory_order_relaxed);
      if (!aborted_.load(std::memory_order_relaxed)) {
        try {
          (*job.fn.load(std::memory_order_relaxed))(t);
        } catch (...) {
          aborted_.store(true, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lk(m_);
          if (!error_) {
            error_ = std::current_exception();
          }
        }
      }
      // The last task tells the caller, under the lock so that the wake is not lost if the
      // caller has just stopped spinning.
      if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_tasks) {
        std::lock_guard<std::mutex> lk(m_);
        done_.notify_one();
      }
    }
  }

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Folds the time since the last job ended into the gap estimate (3/4 old, 1/4 new) that
  // sets the workers' spin; a long idle counts as 2 x kMaxSpinMicros, so that a loop after it
  // spins again within a few jobs. Called under run_mutex_: one writer.
  void note_gap() {
    if (last_end_ns_ > 0) {
      const int64_t gap_us = std::min((now_ns() - last_end_ns_) / 1000, 2 * kMaxSpinMicros);
      const int64_t old = gap_ema_us_.load(std::memory_order_relaxed);
      gap_ema_us_.store(old < 0 ? gap_us : (3 * old + gap_us) / 4, std::memory_order_relaxed);
    }
  }

  // Spins (yielding) until done() or `micros` have passed; returns done().
  template <typename Done>
  static bool spin_until(Done done, int64_t micros = spin_micros()) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) {
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }

  void loop(uint64_t seen) {
    auto posted = [&] {
      return generation(state_.load(std::memory_order_acquire)) != seen ||
             stop_flag_.load(std::memory_order_relaxed);
    };
    while (true) {
      // Spin briefly before sleeping: products come back to back in a loop, and a worker
      // that sleeps is often woken on the caller's core, halving the pool for that call.
      if (!spin_until(posted, worker_spin_micros(gap_ema_us_.load(std::memory_order_relaxed)))) {
        std::unique_lock<std::mutex> lk(m_);
        wake_.wait(lk, posted);
      }
      if (stop_flag_.load(std::memory_order_relaxed)) {
        return;
      }
      seen = generation(state_.load(std::memory_order_acquire));
      work(seen);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_; // one job at a time
  std::mutex m_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Job jobs_[2];
  std::atomic<uint64_t> state_{0};     // (generation << kIndexBits) | next task
  int64_t last_end_ns_ = 0;              // when the last job ended (run_mutex_'s)
  std::atomic<int64_t> gap_ema_us_{-1};  // recent gap between jobs, -1 before two jobs
  std::atomic<int64_t> finished_{0};   // tasks of the current job done (or skipped)
  std::atomic<bool> aborted_{false};   // a task threw: skip the rest
  std::exception_ptr error_;           // guarded by m_
  std::atomic<bool> stop_flag_{false};
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

std::string spin_env_problem() {
  std::string problem;
  env_spin(&problem);
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
