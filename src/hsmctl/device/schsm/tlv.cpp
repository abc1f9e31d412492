// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/tlv.hpp"

namespace hsmctl::device::schsm {

std::optional<std::vector<Tlv>> parse_tlvs(ByteView data) {
  std::vector<Tlv> out;
  while (!data.empty()) {
    auto t = parse_tlv(data);
    if (!t)
      return std::nullopt;
    data = data.subspan(t->whole.size());
    out.push_back(*t);
  }
  return out;
}

std::optional<ByteView> find_tlv(ByteView data, std::uint32_t tag) {
  // Walk until the first malformed element: a stray byte after the wanted tag must not hide it.
  while (!data.empty()) {
    auto t = parse_tlv(data);
    if (!t)
      return std::nullopt;
    if (t->tag == tag)
      return t->value;
    data = data.subspan(t->whole.size());
  }
  return std::nullopt;
}

void append_tlv(Bytes& out, std::uint32_t tag, ByteView value) {
  if (tag > 0xFFFFFF)
    out.push_back(static_cast<std::uint8_t>(tag >> 24));
  if (tag > 0xFFFF)
    out.push_back(static_cast<std::uint8_t>(tag >> 16));
  if (tag > 0xFF)
    out.push_back(static_cast<std::uint8_t>(tag >> 8));
  out.push_back(static_cast<std::uint8_t>(tag));
  const std::size_t len = value.size();
  if (len < 0x80) {
    out.push_back(static_cast<std::uint8_t>(len));
  } else if (len <= 0xFF) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  }
  out.insert(out.end(), value.begin(), value.end());
}

}  // namespace hsmctl::device::schsm
