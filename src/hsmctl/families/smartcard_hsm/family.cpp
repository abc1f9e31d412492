// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/smartcard_hsm/family.hpp"

#include "hsmctl/families/schsm_engine/unit.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"

namespace hsmctl::families::smartcard_hsm {
namespace {

class SmartCardHsmFamily final : public family::Family {
 public:
  std::string_view id() const override { return "smartcard-hsm"; }

  // The schema is this folder's smartcardhsm.v1alpha1.schema.json, embedded by the build like
  // every families/<f>/*.schema.json. --allow-reinit and --allow-key-loss are declared once, by
  // the Pico family; the engine's units read them for this kind too.
  std::vector<family::KindSpec> kinds() const override {
    return {{"SmartCardHSM",
             manifest::embedded::find("smartcardhsm.v1alpha1.schema.json"),
             {"/spec/userPin", "/spec/soPin"},
             true}};
  }

  std::unique_ptr<family::Loader> loader() const override {
    return schsm_engine::make_loader(capabilities());
  }
};

}  // namespace

schsm_engine::Capabilities capabilities() {
  schsm_engine::Capabilities c;
  c.kind = "SmartCardHSM";
  c.store_prefix = "smartcard-hsm";
  c.pico_device = false;               // tag 85 byte 2 is a type (00/01), never FF (1)
  c.so_verify = false;                 // the SO PIN cannot log in (4.3, 8)
  c.dyn_options = false;               // no high options byte, no DYNOPS (1.1, 10.1)
  c.reinit_needs_current_so = true;    // tag 82 = current SO PIN, 15 tries (3, 12 #1)
  c.reinit_keeps_device_key = true;    // device key and attestation survive (2.4, 3)
  c.retry_6400 = false;                // the v6.6 defect is Pico firmware's (2.5)
  c.no_dkek_is_6a88 = true;            // no-DKEK domain status 6A88 (5.2)
  c.rrc_reset_only_blocks_set = true;  // 0x0020: RRC only resets the counter (4.5)
  return c;
}

const family::Family& family() {
  static const SmartCardHsmFamily instance;
  return instance;
}

}  // namespace hsmctl::families::smartcard_hsm
