// SPDX-License-Identifier: Apache-2.0
// Probe (tests/lint/check_bad_include.py): model does not declare plan, so plan's headers are
// not staged for it. Compiled as a file of module model, this must fail.
#include "hsmctl/plan/plan.hpp"

int probe_model_includes_plan() {
  return 0;
}
