// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM / Nitrokey HSM 2 family (kind SmartCardHSM): the same command set as the Pico
// HSM, driven by the same engine (families/schsm_engine: its unit and loader) with this family's
// capabilities: no Pico options (no DYNOPS), never a VERIFY of the SO PIN with data (its 15 tries
// are never restored), re-initialization only with the store's current SO PIN, store entries
// "smartcard-hsm:<serial>". One unit per SmartCardHSM document, on the device given by
// `--device [NAME=]URI`. docs/smartcard-hsm.md; docs/dev/architecture-step-plan.md section 5.

#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/family/family.hpp"

namespace hsmctl::families::smartcard_hsm {

const family::Family& family();

/// What the engine may do on a SmartCard-HSM (every value second-hand: UNCONFIRMED on a card).
schsm_engine::Capabilities capabilities();

}  // namespace hsmctl::families::smartcard_hsm
