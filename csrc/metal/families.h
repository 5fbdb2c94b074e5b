// The Metal kernel families: metal/<family>.metal, each amalgamated into one source string
// (scripts/amalgamate_metal.py) and compiled at run time as its own library, so that one
// family failing to compile leaves the others usable. Plain C++: Linux checks it too.
#pragma once

#include <string>
#include <string_view>

namespace mlx_sparse::metal {

struct Family {
  const char* name;
  const char* const* chunks; // the source, split to stay under compilers' literal limits
  int n_chunks;
};

// Defined in the generated metal_sources.cpp, one per metal/*.metal.
extern const Family kFamilies[];
extern const int kFamilyCount;

// The family whose library holds kernel `kernel` (a host name), or nullptr.
const Family* family_of(std::string_view kernel);
std::string family_source(const Family& family);

} // namespace mlx_sparse::metal
