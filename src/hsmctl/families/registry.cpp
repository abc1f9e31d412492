// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/registry.hpp"

#include "hsmctl/families/pico/family.hpp"
#include "hsmctl/families/primus/family.hpp"
#include "hsmctl/families/smartcard_hsm/family.hpp"

namespace hsmctl::families {

std::span<const family::Family* const> families() {
  static const family::Family* const kTable[] = {
      &pico::family(),
      &primus::family(),
      &smartcard_hsm::family(),
  };
  return kTable;
}

}  // namespace hsmctl::families
