// The registry behind registry.h: filled by the generated files' static initialisers.
#include "registry.h"

#include <algorithm>
#include <map>

#include "runtime.h"

namespace ms_emu {
namespace {

struct Entry {
  Adapter adapter;
  size_t buffers;
};

struct Table {
  std::map<std::string, Entry> kernels;
  std::string duplicate; // a host name registered twice, reported at first use
};

Table& table() {
  static Table t;
  return t;
}

// The table, once every family is linked in; a duplicate name is an error.
const Table& ready() {
  link_families();
  const Table& t = table();
  if (!t.duplicate.empty()) {
    throw Error("[metal-emulator] kernel '" + t.duplicate + "' is registered twice");
  }
  return t;
}

} // namespace

bool register_kernel(const char* name, Adapter adapter, size_t buffers) {
  Table& t = table();
  if (!t.kernels.emplace(name, Entry{adapter, buffers}).second && t.duplicate.empty()) {
    t.duplicate = name;
  }
  return true;
}

bool has_kernel(const std::string& name) {
  return ready().kernels.count(name) != 0;
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (const auto& [name, e] : ready().kernels) {
    names.push_back(name);
  }
  return names;
}

void run_kernel(const std::string& name, Dim3 groups, Dim3 threads, void* const* args,
                size_t n_args, Order order) {
  const auto& kernels = ready().kernels;
  const auto it = kernels.find(name);
  if (it == kernels.end()) {
    throw Error("[metal-emulator] no kernel named '" + name + "'");
  }
  const Entry e = it->second;
  if (n_args < e.buffers) {
    throw Error("[metal-emulator] kernel '" + name + "' reads buffers 0 to " +
                std::to_string(e.buffers - 1) + " but " + std::to_string(n_args) +
                " were bound");
  }
  launch(name, groups, threads, [&](const ThreadPos& t) { e.adapter(args, t); }, order);
}

} // namespace ms_emu
