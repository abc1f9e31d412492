// SPDX-License-Identifier: Apache-2.0
// Probe (tests/lint/check_bad_include.py): PC/SC belongs to device_pcsc; model has no
// -I/usr/include/PCSC. Compiled as a file of module model, this must fail.
#include <winscard.h>

int probe_model_includes_winscard() {
  return 0;
}
