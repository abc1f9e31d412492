// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/process.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace hsmctl {

void disable_core_dumps() {
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace hsmctl
