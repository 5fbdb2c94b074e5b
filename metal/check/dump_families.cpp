// scripts/check_metal.sh's view of the embedded sources: writes each family's string, as the
// module hands it to Metal, to DIR/<family>.metal; then reads "family host_name" lines on
// stdin and fails on a host name that csrc/metal/families.cpp maps to another family.
#include <fstream>
#include <iostream>
#include <string>

#include "metal/families.h"

using namespace mlx_sparse::metal;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: dump_families DIR < names\n";
    return 2;
  }
  for (int i = 0; i < kFamilyCount; ++i) {
    std::ofstream(std::string(argv[1]) + "/" + kFamilies[i].name + ".metal")
        << family_source(kFamilies[i]);
  }
  std::string family, name;
  int bad = 0;
  while (std::cin >> family >> name) {
    const Family* f = family_of(name);
    if (!f || family != f->name) {
      std::cerr << "dump_families: kernel " << name << " is in " << family << ".metal but looked up in "
                << (f ? f->name : "no family") << "\n";
      ++bad;
    }
  }
  return bad ? 1 : 0;
}
