// What the emulator's C++ tests share: a failure counter that prints what differed, and
// seeded random CSR inputs with empty rows, one long row, duplicates and unsorted columns.
#pragma once

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace ms_emu_test {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

inline bool close(float got, float want, float tol) {
  return std::fabs(got - want) <= tol * (1.0f + std::fabs(want));
}

// Compares got with want element by element; reports the first difference as a wrong result.
inline void check_all(const std::vector<float>& got, const std::vector<float>& want, float tol,
                      const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!close(got[i], want[i], tol)) {
      check(false, what + ": [" + std::to_string(i) + "] = " + std::to_string(got[i]) +
                       ", expected " + std::to_string(want[i]) + " (wrong result)");
      return;
    }
  }
  check(true, what);
}

struct Csr {
  int64_t m = 0, n = 0;
  std::vector<int64_t> indptr, cols;
};

// Rows of 0..6 entries, row 1 empty, row 3 long (`long_row` entries); columns random, so
// unsorted with duplicates.
inline Csr random_csr(int64_t m, int64_t n, int64_t long_row, unsigned seed) {
  std::mt19937 rng(seed);
  Csr a{m, n, {0}, {}};
  for (int64_t r = 0; r < m; ++r) {
    const int64_t len = r == 1 ? 0 : r == 3 ? long_row : int64_t(rng() % 7);
    for (int64_t j = 0; j < len; ++j) {
      a.cols.push_back(int64_t(rng() % uint64_t(n)));
    }
    a.indptr.push_back(int64_t(a.cols.size()));
  }
  return a;
}

inline std::vector<float> random_values(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) {
    x = u(rng);
  }
  return v;
}

} // namespace ms_emu_test
