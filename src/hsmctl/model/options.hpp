// SPDX-License-Identifier: Apache-2.0
#pragma once
// SmartCard-HSM / Pico HSM device-option bits (tag 85 bytes 0-1, INITIALIZE tag 80, DYNOPS).
// Source: ../shared/reference/pico-hsm.md section 1.1.

#include "hsmctl/model/limits.hpp"  // kSoPinRetries

#include <cstdint>

namespace hsmctl::model {

inline constexpr std::uint16_t kOptResetRetryCounter = 0x0001;
inline constexpr std::uint16_t kOptTransportPin = 0x0002;
inline constexpr std::uint16_t kOptReplacePka = 0x0008;
inline constexpr std::uint16_t kOptCombinedAuth = 0x0010;
inline constexpr std::uint16_t kOptRrcResetOnly = 0x0020;
inline constexpr std::uint16_t kOptPressToConfirm = 0x0100;
inline constexpr std::uint16_t kOptKeyUsageCounter = 0x0200;
inline constexpr std::uint16_t kOptSecureLock = 0x0400;

/// Bits INITIALIZE sets (low byte) and bits changed in place by DYNOPS (high byte).
inline constexpr std::uint16_t kInitOptionsMask = 0x00FF;
inline constexpr std::uint16_t kDynamicOptionsMask = 0xFF00;

}  // namespace hsmctl::model
