// The Metal emulator's launcher (emulator.h): each kernel is queued on the primitive's CPU
// stream, like the CPU kernels, and runs there on metal/emu's scheduler (metal/emu/host.h).
#include "emu/emulator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>

#include "host.h"
#include "mlx/backend/cpu/encoder.h"

namespace mlx_sparse::emu {

namespace mx = mlx::core;

namespace {

std::atomic<bool> on{false};
std::mutex mutex; // guards errors and ran
std::vector<std::string> errors;
std::set<std::string> ran;

// MLX_SPARSE_EMULATOR_ORDER=reverse gives threads their turns in reverse order, which shows
// a missing barrier from the other side.
bool reverse_order() {
  static const bool reverse = [] {
    const char* v = std::getenv("MLX_SPARSE_EMULATOR_ORDER");
    return v && std::strcmp(v, "reverse") == 0;
  }();
  return reverse;
}

class EmuLaunch final : public gpu::Launch {
 public:
  explicit EmuLaunch(mx::Stream s) : stream_(s) {}

  bool atomics64() const override { return false; }

 protected:
  // Buffers are passed by address (the task keeps their arrays alive); plain values are
  // copied into the task, as set_bytes copies them.
  void launch(const std::string& name, gpu::Dims groups, gpu::Dims threads, const gpu::Arg* args,
              size_t count) override {
    std::vector<void*> pointers(count, nullptr);
    std::vector<array> keep;
    std::vector<std::max_align_t> values; // each plain value in its own aligned slots
    std::vector<size_t> offsets(count, SIZE_MAX);
    for (size_t i = 0; i < count; ++i) {
      if (const array* a = args[i].buffer) {
        pointers[i] = a->data_size() == 0 ? nullptr : const_cast<void*>(a->data<void>());
        keep.push_back(*a);
      } else {
        offsets[i] = values.size();
        values.resize(values.size() + (args[i].size + sizeof(std::max_align_t) - 1) /
                                          sizeof(std::max_align_t));
        std::memcpy(&values[offsets[i]], args[i].bytes, args[i].size);
      }
    }
    mx::cpu::get_command_encoder(stream_).dispatch(
        [name, groups, threads, pointers, keep, values, offsets]() mutable {
          for (size_t i = 0; i < offsets.size(); ++i) {
            if (offsets[i] != SIZE_MAX) {
              pointers[i] = &values[offsets[i]];
            }
          }
          const unsigned gs[3] = {groups.x, groups.y, groups.z};
          const unsigned ts[3] = {threads.x, threads.y, threads.z};
          try {
            ms_emu::host::run_kernel(name, gs, ts, pointers.data(), pointers.size(),
                                     reverse_order());
            std::lock_guard lock(mutex);
            ran.insert(name);
          } catch (const std::exception& e) {
            std::lock_guard lock(mutex);
            errors.push_back(e.what());
          }
        });
  }

  void keep(const array& t) override { mx::cpu::get_command_encoder(stream_).add_temporary(t); }

 private:
  mx::Stream stream_;
};

} // namespace

bool available() {
  return true;
}
bool enabled() {
  return on.load(std::memory_order_relaxed);
}
void set_enabled(bool value) {
  on.store(value, std::memory_order_relaxed);
}

std::vector<std::string> take_errors() {
  std::lock_guard lock(mutex);
  return std::exchange(errors, {});
}

std::vector<std::string> kernels_run() {
  std::lock_guard lock(mutex);
  return {ran.begin(), ran.end()};
}

std::vector<std::string> kernels() {
  return ms_emu::host::kernel_names();
}

std::unique_ptr<gpu::Launch> launch(mx::Stream s) {
  return std::make_unique<EmuLaunch>(s);
}

bool has_float64(const std::vector<array>& in, const std::vector<array>& outs) {
  for (const auto* list : {&in, &outs}) {
    for (const auto& a : *list) {
      if (a.dtype() == mx::float64) {
        return true;
      }
    }
  }
  return false;
}

} // namespace mlx_sparse::emu
