// SPDX-License-Identifier: Apache-2.0
#pragma once
// Byte buffers and hex helpers.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/// Upper-case hex without separators ("6A88").
std::string to_hex(ByteView bytes);
/// Upper-case hex with a space between bytes ("80 50 00 00"), for APDU traces.
std::string to_hex_spaced(ByteView bytes);
/// Parses hex; accepts upper/lower case and ignores spaces and colons. nullopt on bad input.
std::optional<Bytes> from_hex(std::string_view text);

inline Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace hsmctl
