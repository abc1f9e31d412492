// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a device of the SmartCard-HSM command set allows, as far as the shared engine
// (prepare/observe, plan, execute) must know. The engine is one piece of code; each family that
// uses it (families/pico: Pico HSM; families/smartcard_hsm: CardContact SmartCard-HSM /
// Nitrokey HSM 2) passes its values. Facts: /work/shared/reference/pico-hsm.md (sections named
// below) and docs/dev/architecture-step-plan.md section 5.

#include <string_view>

namespace hsmctl::families::schsm_engine {

struct Capabilities {
  /// The manifest kind of the family, as messages name it ("use kind: PicoHSM").
  std::string_view kind = "PicoHSM";
  /// Store entries, journals and rejection records of a device are kept under
  /// "<store_prefix>:<serial>/..." ("pico:E6614C311B4A2B21/so-pin").
  std::string_view store_prefix = "pico";
  /// The family's devices report tag 85 byte 2 = FF (a Pico HSM). A Pico family only notes a
  /// device that does not (as before); a family with false refuses (kRefused, before any VERIFY
  /// with data) a device that does: it is a Pico HSM, to be managed with kind PicoHSM.
  bool pico_device = true;
  /// VERIFY 88 with data is a login (Pico, 4.3). False (SC-HSM): the SO PIN cannot log in, and
  /// its 15 tries are never restored (12 #1): never sent; what hsmctl knows about the SO PIN is
  /// the store's value only. The free SO status query (no data) is sent either way.
  bool so_verify = true;
  /// The high options byte (press-to-confirm, key usage counter, secure lock) and DYNOPS
  /// (80 64 06) exist (1.1, 10.1). False: no set-options action, tag 80 high byte 00.
  bool dyn_options = true;
  /// Re-INITIALIZE of an initialized device needs the CURRENT SO PIN in tag 82, and a wrong one
  /// burns an SO try (3, 12 #1). True: a re-initialization is planned only when the store holds
  /// the current SO PIN (else blocked); INITIALIZE carries that value, and a new SO value
  /// follows by CHANGE REFERENCE DATA 88.
  bool reinit_needs_current_so = false;
  /// The device key and its attestation survive a re-initialization (2.4, 3): no VERIFY before
  /// INITIALIZE, and the plan never says the PKI certificate would be lost.
  bool reinit_keeps_device_key = false;
  /// INITIALIZE answering 6400 is the v6.6 first-attempt defect, retried once (2.5, 12 #11).
  bool retry_6400 = true;
  /// A key domain without a DKEK answers its status with 6A88 (5.2; Pico: 9000 00 00), which
  /// reads as "not set up": such a domain counts as "no DKEK", and none is set up with 0 shares.
  bool no_dkek_is_6a88 = false;
  /// Option 0x0020 means "RESET RETRY COUNTER only resets the error counter" (4.5): with it set,
  /// no reset-user-pin action (RRC P1=00, which sets a new PIN) is planned.
  bool rrc_reset_only_blocks_set = false;
};

/// The Pico HSM: every value as the engine behaved before capabilities existed.
inline constexpr Capabilities kPicoCapabilities{};

}  // namespace hsmctl::families::schsm_engine
