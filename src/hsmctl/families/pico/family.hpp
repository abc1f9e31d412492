// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Pico HSM family (kind PicoHSM): an adapter over families::schsm_engine::prepare /
// check_guards / execute. One unit per PicoHSM document, on the device given by `--device
// [NAME=]URI`. Its documents are converted by the engine's loader (schsm_engine/convert.cpp).

#include "hsmctl/family/family.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <memory>

namespace hsmctl::families::pico {

const family::Family& family();

/// The loader of kind PicoHSM (schsm_engine::make_loader): each document -> model::PicoHsmManifest
/// with the checks JSON Schema cannot express; across documents, unique names and device selectors.
std::unique_ptr<family::Loader> loader();

/// The unit of one PicoHSM document.
std::unique_ptr<family::Unit> unit(model::PicoHsmManifest manifest);

/// The manifest of a unit of this family; nullptr for any other unit.
const model::PicoHsmManifest* manifest_of(const family::Unit& unit);

}  // namespace hsmctl::families::pico
