// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM planner: desired state (manifest) x observed state (device) x what hsmctl
// knows about the device's credentials -> an ordered list of plan actions. Pure: no I/O, no
// secrets (only whether a credential is known, never its value).

#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/plan/plan.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::families::schsm_engine {

/// What hsmctl knows about one credential of the device, decided before planning.
enum class CredentialKnowledge {
  kMatchesDesired,    ///< the device accepted the manifest's value
  kKnownOther,        ///< the device accepted a value hsmctl holds that differs from the manifest
  kMismatchUnknown,   ///< the device rejected the value tried; the current value is unknown
  kUnchecked,         ///< not verified (no value to try, or trying was unsafe)
  kDesiredGenerated,  ///< the manifest asks hsmctl to generate it and none exists yet
};

struct CredentialFacts {
  CredentialFacts() = default;
  CredentialFacts(CredentialKnowledge user, CredentialKnowledge so) : user_pin(user), so_pin(so) {}

  CredentialKnowledge user_pin = CredentialKnowledge::kUnchecked;
  CredentialKnowledge so_pin = CredentialKnowledge::kUnchecked;
  /// A VERIFY with the value hsmctl holds succeeded in this run (not inferred from a journal).
  bool user_pin_verified = false;
  bool so_pin_verified = false;
  /// The store holds a current user PIN equal to the manifest's (hsmctl set or recorded it).
  /// Only used where the device cannot be asked: a user PIN in transport state.
  bool user_pin_held_is_desired = false;
  /// For kMismatchUnknown: which values the device rejected, by source ("the store's value
  /// (pico:…/user-pin)", "the manifest's value (spec.userPin) (rejected in an earlier run)").
  std::string user_pin_rejected;
  std::string so_pin_rejected;
  /// Whether rejections are recorded where later runs see them (false with `--store none`).
  bool rejections_recorded = true;
  /// By key domain: the KCV (16 hex digits) of the DKEK the manifest's share files make, when
  /// prepare() decrypted them or found them unchanged since an import it recorded; absent when
  /// it did not need to (the domain is complete and the manifest gives expectedKcv).
  std::map<int, std::string> dkek_files_kcv;
  /// The current user PIN is known to hsmctl (desired or other): apply can log in.
  bool user_pin_usable() const {
    return user_pin == CredentialKnowledge::kMatchesDesired ||
           user_pin == CredentialKnowledge::kKnownOther;
  }
  bool so_pin_usable() const {
    return so_pin == CredentialKnowledge::kMatchesDesired ||
           so_pin == CredentialKnowledge::kKnownOther;
  }
};

/// The action kinds this planner emits (plan::Action::kind; the JSON `kind`), besides
/// plan::kind::kBlocked. Listed in docs/review.md "Action kinds".
namespace kind {
inline constexpr char kInitialize[] = "initialize";      ///< INITIALIZE DEVICE (first or wiping)
inline constexpr char kChangeSoPin[] = "change-so-pin";  ///< CHANGE REFERENCE DATA 88
inline constexpr char kChangeUserPin[] = "change-user-pin";        ///< CHANGE REFERENCE DATA 81
inline constexpr char kResetUserPin[] = "reset-user-pin";          ///< RESET RETRY COUNTER P1=00
inline constexpr char kSetupKeyDomain[] = "setup-key-domain";      ///< INS 52 P1=01
inline constexpr char kDeleteKeyDomain[] = "delete-key-domain";    ///< INS 52 P1=03
inline constexpr char kSetDynamicOptions[] = "set-options";        ///< DYNOPS (INS 64 P1=06)
inline constexpr char kImportDkekShares[] = "import-dkek-shares";  ///< INS 52 P1=00 with data
inline constexpr char kRegisterPublicKeys[] = "register-public-keys";  ///< INS 54 P1=00 with data
inline constexpr const char* kAll[] = {kInitialize,        kChangeSoPin,      kChangeUserPin,
                                       kResetUserPin,      kSetupKeyDomain,   kDeleteKeyDomain,
                                       kSetDynamicOptions, kImportDkekShares, kRegisterPublicKeys};
}  // namespace kind

/// kind::kInitialize: everything INITIALIZE sends but the two PINs (apply takes those from the
/// credentials prepare() resolved).
struct InitializePayload {
  /// Tag 80, both bytes (INITIALIZE overwrites them): the manifest's initialization bits and
  /// managed Pico bits, the device's secure-lock bit.
  std::uint16_t options = 0;
  int pin_retries = model::kDefaultPinRetries;  ///< tag 91; also the retry maximum recorded
  std::optional<int> dkek_shares;               ///< tag 92 (only without key domains)
  std::optional<std::pair<int, int>> pka;       ///< tag 93 (keys, required)
  std::optional<int> key_domains;               ///< tag 97 (number of domains)
};

/// kind::kChangeSoPin, kChangeUserPin, kResetUserPin: which credential gets the manifest's value,
/// proven by what.
struct CredentialPayload {
  enum class Target { kUserPin, kSoPin };
  enum class Proof {
    kCurrentValue,  ///< CHANGE REFERENCE DATA with the value the device holds now
    kSoPin,         ///< RESET RETRY COUNTER P1=00 with the SO PIN (user PIN only)
  };
  Target target = Target::kUserPin;
  Proof proof = Proof::kCurrentValue;
};

/// kind::kSetupKeyDomain, kDeleteKeyDomain.
struct KeyDomainPayload {
  int index = 0;
  int shares = 0;  ///< kSetupKeyDomain: the DKEK shares of the domain (0 = no DKEK)
};

/// kind::kImportDkekShares: the share files prepare() decrypted for domain `index` (the values
/// are in DeviceCredentials, never here), imported in one user-PIN session; afterwards the
/// device's KCV must equal `kcv`.
struct DkekImportPayload {
  int index = 0;
  int shares = 0;
  std::string kcv;  ///< 16 hex digits: the KCV of the files (equal to expectedKcv when given)
};

/// kind::kRegisterPublicKeys: the custodians' public keys (from the manifest's files, read at
/// load) that INS 54 P1=00 registers, one after the other, in a user-PIN session. Public data.
struct RegisterPublicKeysPayload {
  struct Key {
    std::string chr;  ///< printable CHR, for messages
    Bytes request;    ///< the data of 80 54 00 00 (the content of the request's tag 67)
  };
  std::vector<Key> keys;
};

/// kind::kSetDynamicOptions: DYNOPS read-modify-write of these bits only (secure lock is kept).
struct DynOptionsPayload {
  std::uint16_t set = 0;
  std::uint16_t clear = 0;
};

/// Computes the plan for one device. Deterministic; the order of actions is the order apply
/// executes them. Every action but a blocked one carries its payload (above): what apply sends.
/// `caps`: what the device family allows (capabilities.hpp); the default is the Pico HSM.
plan::DevicePlan make_plan(const model::PicoHsmManifest& desired,
                           const model::ObservedPico& observed, const CredentialFacts& creds,
                           const Capabilities& caps = kPicoCapabilities);

}  // namespace hsmctl::families::schsm_engine
