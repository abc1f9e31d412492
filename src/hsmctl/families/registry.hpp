// SPDX-License-Identifier: Apache-2.0
#pragma once
// THE table of device families (families/registry.cpp). Its order is the output order of
// `plan` and `apply` (units of the first family first) and the order kinds are listed in
// messages ("supported: ..."). A new family adds one line there and nothing in the CLI;
// families::load (families/load.hpp) reads manifests with the table's loaders.

#include "hsmctl/family/family.hpp"

#include <span>

namespace hsmctl::families {

/// Every registered family, in output order: Pico HSM, then Securosys Primus.
std::span<const family::Family* const> families();

}  // namespace hsmctl::families
