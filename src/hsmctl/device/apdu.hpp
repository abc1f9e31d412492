// SPDX-License-Identifier: Apache-2.0
#pragma once
// ISO 7816-4 command/response APDUs and status words.

#include "hsmctl/util/bytes.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace hsmctl::device {

struct CommandApdu {
  std::uint8_t cla = 0x00;
  std::uint8_t ins = 0x00;
  std::uint8_t p1 = 0x00;
  std::uint8_t p2 = 0x00;
  Bytes data;
  /// Expected response length; nullopt = no Le field; 0 = "up to maximum" (00 / 0000).
  std::optional<int> le;

  /// Short encoding when data <= 255 and le <= 256, extended otherwise.
  Bytes encode() const;
};

struct ResponseApdu {
  Bytes data;
  std::uint16_t sw = 0;

  std::uint8_t sw1() const { return static_cast<std::uint8_t>(sw >> 8); }
  std::uint8_t sw2() const { return static_cast<std::uint8_t>(sw & 0xFF); }
  bool ok() const { return sw == 0x9000; }
};

/// Splits raw response bytes into data and SW; nullopt if fewer than 2 bytes.
std::optional<ResponseApdu> parse_response(ByteView raw);

/// Parses a command APDU (short or extended); nullopt if malformed. Used by the simulator.
std::optional<CommandApdu> parse_command(ByteView raw);

/// "6A88 (reference data not found)". Never includes command data.
std::string describe_sw(std::uint16_t sw);

}  // namespace hsmctl::device
