// SPDX-License-Identifier: Apache-2.0
#pragma once
// The numeric limits of a Pico HSM manifest and the device rules behind them, in one place.
// The PicoHSM schema (schemas/picohsm.v1alpha1.schema.json) states the same minimum, maximum and
// default values; tests/unit/model/limits_test.cpp checks that both agree.

namespace hsmctl::model {

/// spec.pinRetries: the user-PIN retry counter hsmctl sets (policy 1..10, default 3).
inline constexpr int kDefaultPinRetries = 3;
inline constexpr int kMinPinRetries = 1;
inline constexpr int kMaxPinRetries = 10;
/// What INITIALIZE tag 91 can carry at all (the counter is a nibble of the 63Cx answer).
inline constexpr int kMaxProtocolPinRetries = 15;

/// The SO-PIN retry counter is fixed at 15 on Pico and not configurable.
inline constexpr int kSoPinRetries = 15;

/// The [SC-HSM] rule of sc-hsm-tool: short user PINs allow fewer retries (a 6-character PIN at
/// most 3, a 7-character one at most 5; longer ones the policy maximum).
inline constexpr int kMinUserPinLength = 6;
inline constexpr int kMaxUserPinLength = 15;
inline constexpr int max_pin_retries_for_length(int user_pin_length) {
  return user_pin_length == 6 ? 3 : user_pin_length == 7 ? 5 : kMaxPinRetries;
}

/// spec.dkekShares and spec.keyDomains[].dkekShares.
inline constexpr int kMinDkekShares = 0;
inline constexpr int kMaxDkekShares = 10;

/// spec.keyDomains: 1..8 domains.
inline constexpr int kMinKeyDomains = 1;
inline constexpr int kMaxKeyDomains = 8;

/// spec.publicKeyAuth.keys and .required: 1..8 (and required <= keys).
inline constexpr int kMinPkaKeys = 1;
inline constexpr int kMaxPkaKeys = 8;

}  // namespace hsmctl::model
