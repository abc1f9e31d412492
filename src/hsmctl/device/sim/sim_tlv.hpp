// SPDX-License-Identifier: Apache-2.0
#pragma once
// BER-TLV helpers for the simulator (internal to device/sim).

#include "hsmctl/util/bytes.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace hsmctl::device::sim::tlv {

/// Appends tag (1 to 3 bytes, as written: 0x5F20 is two bytes) with a BER length.
inline void put(Bytes& out, std::uint32_t tag, ByteView value) {
  if (tag > 0xFFFF) {
    out.push_back(static_cast<std::uint8_t>(tag >> 16));
  }
  if (tag > 0xFF) {
    out.push_back(static_cast<std::uint8_t>(tag >> 8));
  }
  out.push_back(static_cast<std::uint8_t>(tag));
  std::size_t n = value.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  }
  out.insert(out.end(), value.begin(), value.end());
}

inline Bytes make(std::uint32_t tag, ByteView value) {
  Bytes out;
  put(out, tag, value);
  return out;
}

struct Item {
  std::uint32_t tag = 0;
  ByteView value;
};

/// Splits a sequence of TLVs; stops silently at the first malformed element (as the firmware's
/// walker does).
inline std::vector<Item> parse(ByteView data) {
  std::vector<Item> items;
  std::size_t i = 0;
  while (i < data.size()) {
    std::uint32_t tag = data[i++];
    if ((tag & 0x1F) == 0x1F) {
      while (i < data.size()) {
        std::uint8_t b = data[i++];
        tag = (tag << 8) | b;
        if ((b & 0x80) == 0) {
          break;
        }
      }
    }
    if (i >= data.size()) {
      break;
    }
    std::size_t len = data[i++];
    if (len == 0x81) {
      if (i + 1 > data.size()) {
        break;
      }
      len = data[i++];
    } else if (len == 0x82) {
      if (i + 2 > data.size()) {
        break;
      }
      len = (static_cast<std::size_t>(data[i]) << 8) | data[i + 1];
      i += 2;
    } else if (len > 0x82) {
      break;
    }
    if (i + len > data.size()) {
      break;
    }
    items.push_back(Item{tag, data.subspan(i, len)});
    i += len;
  }
  return items;
}

inline std::optional<ByteView> find(ByteView data, std::uint32_t tag) {
  for (const auto& item : parse(data)) {
    if (item.tag == tag) {
      return item.value;
    }
  }
  return std::nullopt;
}

}  // namespace hsmctl::device::sim::tlv
