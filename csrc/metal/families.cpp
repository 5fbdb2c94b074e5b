// Which family's library holds a kernel, by host-name prefix; scripts/check_metal.sh checks
// every host name of every metal/<family>.metal against this table.
#include "metal/families.h"

#include <cstring>

namespace mlx_sparse::metal {

namespace {

struct Prefix {
  const char* prefix;
  const char* family;
};

// Longer prefixes first where one extends another (spgemm_ vs spgemm_row_warp).
constexpr Prefix kPrefixes[] = {
    {"todense_scatter_", "entries"},   {"sum_duplicates_scatter_", "entries"},
    {"rows_search_", "entries"},       {"fill_zero_", "fill"},
    {"from_float32_", "fill"},         {"widen_uint32_", "fill"},
    {"sddmm_", "sddmm"},               {"softmax_", "softmax"},
    {"spgemm_row_warp_", "spgemm"},    {"spgemm_nnz_split_", "spgemm"},
    {"spgemm_", "spgemm_symbolic"},    {"spmm_", "spmm"},
    {"spmv_", "spmm"},                 {"chunk_rows_", "spmm"},
    {"transpose_", "transpose"},       {"scan_", "transpose"},
    {"flash_attention_", "flash_attention"},
    {"bsr_spmm_", "bsr_spmm"},         {"bsr_sddmm_", "bsr_sddmm"},
};

} // namespace

const Family* family_of(std::string_view kernel) {
  for (const auto& p : kPrefixes) {
    if (kernel.starts_with(p.prefix)) {
      for (int i = 0; i < kFamilyCount; ++i) {
        if (std::strcmp(kFamilies[i].name, p.family) == 0) {
          return &kFamilies[i];
        }
      }
      return nullptr;
    }
  }
  return nullptr;
}

std::string family_source(const Family& family) {
  std::string s;
  for (int i = 0; i < family.n_chunks; ++i) {
    s += family.chunks[i];
  }
  return s;
}

} // namespace mlx_sparse::metal
