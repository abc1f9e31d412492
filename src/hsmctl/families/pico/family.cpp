// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/pico/family.hpp"

#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/families/schsm_engine/unit.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"

#include <utility>

namespace hsmctl::families::pico {
namespace {

class PicoFamily final : public family::Family {
 public:
  std::string_view id() const override { return "pico"; }

  std::vector<family::KindSpec> kinds() const override {
    return {{"PicoHSM",
             manifest::embedded::picohsm_v1alpha1_schema_json(),
             {"/spec/userPin", "/spec/soPin"},
             true}};
  }

  // Declared here once; every unit of the SmartCard-HSM engine (this family's and
  // families/smartcard_hsm's) reads them.
  std::vector<family::OptionSpec> options() const override {
    using Scope = family::OptionSpec::Scope;
    return {
        {"allow-reinit", "allow re-initialization (wipes all keys) where the plan needs it", true,
         Scope::kApply},
        {"allow-key-loss", "with --allow-reinit: also re-initialize devices that hold private keys",
         true, Scope::kApply}};
  }

  std::unique_ptr<family::Loader> loader() const override { return pico::loader(); }
};

}  // namespace

const family::Family& family() {
  static const PicoFamily instance;
  return instance;
}

std::unique_ptr<family::Loader> loader() {
  return schsm_engine::make_loader(schsm_engine::kPicoCapabilities);
}

std::unique_ptr<family::Unit> unit(model::PicoHsmManifest manifest) {
  return schsm_engine::make_unit(std::move(manifest), schsm_engine::kPicoCapabilities);
}

const model::PicoHsmManifest* manifest_of(const family::Unit& unit) {
  return schsm_engine::manifest_of(unit);
}

}  // namespace hsmctl::families::pico
