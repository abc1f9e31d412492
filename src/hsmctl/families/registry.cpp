// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/registry.hpp"

#include "hsmctl/families/pico/family.hpp"
#include "hsmctl/families/primus/family.hpp"

namespace hsmctl::families {

std::span<const family::Family* const> families() {
  static const family::Family* const kTable[] = {
      &pico::family(),
      &primus::family(),
  };
  return kTable;
}

std::vector<std::unique_ptr<family::Unit>> units_of(std::span<const family::Family* const> table,
                                                    const manifest::LoadResult& loaded) {
  std::vector<std::unique_ptr<family::Unit>> out;
  for (const family::Family* f : table) {
    for (auto& u : f->units(loaded))
      out.push_back(std::move(u));
  }
  return out;
}

}  // namespace hsmctl::families
