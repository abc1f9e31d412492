// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM planner: desired state (manifest) x observed state (device) x what hsmctl
// knows about the device's credentials -> an ordered list of plan actions. Pure: no I/O, no
// secrets (only whether a credential is known, never its value).

#include "hsmctl/families/schsm_engine/capabilities.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/plan/plan.hpp"

#include <string>

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

/// Computes the plan for one device. Deterministic; the order of actions is the order apply
/// executes them. `caps`: what the device family allows (capabilities.hpp); the default is the
/// Pico HSM.
plan::DevicePlan make_plan(const model::PicoHsmManifest& desired,
                           const model::ObservedPico& observed, const CredentialFacts& creds,
                           const Capabilities& caps = kPicoCapabilities);

}  // namespace hsmctl::families::schsm_engine
