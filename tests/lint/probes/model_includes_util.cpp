// SPDX-License-Identifier: Apache-2.0
// Probe (tests/lint/check_bad_include.py): model declares util, so this compiles as a file of
// module model (if it did not, the failing probes would prove nothing).
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/util/error.hpp"

int probe_model_includes_util() {
  return 0;
}
