// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a family of the SmartCard-HSM command set registers, built once for all of them: the unit
// of one document (prepare / check_guards / execute over this engine with the family's
// Capabilities) and the loader that converts its documents (convert.cpp). A family folder
// (families/pico, families/smartcard_hsm) then holds only its kind, its schema and its
// Capabilities.

#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/family/family.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <memory>

namespace hsmctl::families::schsm_engine {

/// The unit of one document: prepare() observes and plans with `caps`, the guards and execute()
/// read the flags --allow-reinit and --allow-key-loss (declared once, by the Pico family).
std::unique_ptr<family::Unit> make_unit(model::PicoHsmManifest manifest, const Capabilities& caps);

/// The manifest of a unit made by make_unit(); nullptr for any other unit.
const model::PicoHsmManifest* manifest_of(const family::Unit& unit);

/// The loader of the kind `caps.kind`: each document -> model::PicoHsmManifest with the checks
/// JSON Schema cannot express (the kind's schema decides which fields exist: a field it forbids
/// is never set), then, across that kind's documents, unique names and device selectors; one
/// make_unit() per document that passes.
std::unique_ptr<family::Loader> make_loader(const Capabilities& caps);

}  // namespace hsmctl::families::schsm_engine
