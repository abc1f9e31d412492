// SPDX-License-Identifier: Apache-2.0
#include "cli/app.hpp"

#include <cstdio>

namespace hsmctl::cli {
int run(int, char**) {
  std::puts("hsmctl " HSMCTL_VERSION);
  return 0;
}
}  // namespace hsmctl::cli
