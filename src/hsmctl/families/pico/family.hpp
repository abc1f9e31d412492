// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Pico HSM family (kind PicoHSM): an adapter over families::schsm_engine::prepare /
// check_guards / execute. One unit per PicoHSM document, on the device given by `--device
// [NAME=]URI`.

#include "hsmctl/family/family.hpp"

namespace hsmctl::families::pico {

const family::Family& family();

}  // namespace hsmctl::families::pico
