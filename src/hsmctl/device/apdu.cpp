// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/apdu.hpp"

#include <algorithm>
#include <cstdio>

namespace hsmctl::device {
namespace {

constexpr int kShortMaxLc = 255;
constexpr int kShortMaxLe = 256;
constexpr int kExtendedMaxLe = 65536;

void push_u16(Bytes& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>((value >> 8) & 0xFF));
  out.push_back(static_cast<std::uint8_t>(value & 0xFF));
}

std::string hex4(std::uint16_t sw) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "%04X", static_cast<unsigned>(sw));
  return buf;
}

}  // namespace

Bytes CommandApdu::encode() const {
  Bytes out{cla, ins, p1, p2};
  // -1 = no Le field. A negative Le is a caller bug; treat it as "no Le" rather than garbage.
  int ne = le.value_or(-1);
  if (ne < 0)
    ne = -1;
  if (ne > kExtendedMaxLe)
    ne = kExtendedMaxLe;

  const bool extended = data.size() > static_cast<std::size_t>(kShortMaxLc) || ne > kShortMaxLe;
  if (!extended) {
    if (!data.empty()) {
      out.push_back(static_cast<std::uint8_t>(data.size()));
      out.insert(out.end(), data.begin(), data.end());
    }
    if (ne >= 0) {
      // 0 and 256 both mean "up to 256": encoded as 00.
      out.push_back(static_cast<std::uint8_t>(ne == kShortMaxLe ? 0 : ne));
    }
    return out;
  }

  // Extended: Lc = 00 HH LL; Le = HH LL after data, or 00 HH LL without data; 65536 -> 0000.
  if (!data.empty()) {
    out.push_back(0x00);
    push_u16(out, data.size());
    out.insert(out.end(), data.begin(), data.end());
  }
  if (ne >= 0) {
    if (data.empty())
      out.push_back(0x00);
    push_u16(out, ne == kExtendedMaxLe ? 0 : static_cast<std::size_t>(ne));
  }
  return out;
}

std::optional<ResponseApdu> parse_response(ByteView raw) {
  if (raw.size() < 2)
    return std::nullopt;
  ResponseApdu r;
  r.data.assign(raw.begin(), raw.end() - 2);
  r.sw = static_cast<std::uint16_t>((raw[raw.size() - 2] << 8) | raw[raw.size() - 1]);
  return r;
}

std::optional<CommandApdu> parse_command(ByteView raw) {
  if (raw.size() < 4)
    return std::nullopt;
  CommandApdu c;
  c.cla = raw[0];
  c.ins = raw[1];
  c.p1 = raw[2];
  c.p2 = raw[3];
  const std::size_t n = raw.size();
  if (n == 4)
    return c;    // case 1
  if (n == 5) {  // case 2 short
    c.le = raw[4] == 0 ? kShortMaxLe : raw[4];
    return c;
  }
  if (raw[4] != 0) {  // short case 3 / 4
    const std::size_t lc = raw[4];
    if (n == 5 + lc) {
      c.data.assign(raw.begin() + 5, raw.end());
      return c;
    }
    if (n == 6 + lc) {
      c.data.assign(raw.begin() + 5, raw.end() - 1);
      c.le = raw[n - 1] == 0 ? kShortMaxLe : raw[n - 1];
      return c;
    }
    return std::nullopt;
  }
  // raw[4] == 00 and more than 5 bytes: extended.
  if (n < 7)
    return std::nullopt;
  const std::size_t b56 = (static_cast<std::size_t>(raw[5]) << 8) | raw[6];
  if (n == 7) {  // case 2 extended
    c.le = b56 == 0 ? kExtendedMaxLe : static_cast<int>(b56);
    return c;
  }
  const std::size_t lc = b56;
  if (lc == 0)
    return std::nullopt;
  if (n == 7 + lc) {  // case 3 extended
    c.data.assign(raw.begin() + 7, raw.end());
    return c;
  }
  if (n == 9 + lc) {  // case 4 extended
    c.data.assign(raw.begin() + 7, raw.end() - 2);
    const std::size_t le = (static_cast<std::size_t>(raw[n - 2]) << 8) | raw[n - 1];
    c.le = le == 0 ? kExtendedMaxLe : static_cast<int>(le);
    return c;
  }
  return std::nullopt;
}

std::string describe_sw(std::uint16_t sw) {
  const std::uint8_t sw1 = static_cast<std::uint8_t>(sw >> 8);
  const std::uint8_t sw2 = static_cast<std::uint8_t>(sw & 0xFF);
  const std::string code = hex4(sw);
  auto with = [&code](const std::string& meaning) { return code + " (" + meaning + ")"; };

  if (sw1 == 0x63 && (sw2 & 0xF0) == 0xC0) {
    const int tries = sw2 & 0x0F;
    return with("wrong PIN, " + std::to_string(tries) + (tries == 1 ? " try" : " tries") + " left");
  }
  if (sw1 == 0x61)
    return with(std::to_string(sw2 == 0 ? 256 : sw2) + " response bytes available");
  if (sw1 == 0x6C)
    return with("wrong Le, exact length " + std::to_string(sw2 == 0 ? 256 : sw2));

  switch (sw) {
    case 0x9000:
      return with("success");
    case 0x9001:
      return with("success, public key authenticated in this session");
    case 0x6282:
      return with("end of file reached before Le bytes");
    case 0x6400:
      return with("execution error");
    case 0x6581:
      return with("memory failure");
    case 0x6600:
      return with("button press timeout");
    case 0x6700:
      return with("wrong length or wrong data");
    case 0x6881:
      return with("logical channel not supported");
    case 0x6882:
      return with("secure messaging not supported");
    case 0x6982:
      return with("security status not satisfied");
    case 0x6983:
      return with("authentication method blocked");
    case 0x6984:
      return with("reference data not usable, PIN in transport state");
    case 0x6985:
      return with("conditions of use not satisfied");
    case 0x6986:
      return with("command not allowed");
    case 0x6A80:
      return with("incorrect data");
    case 0x6A81:
      return with("function not supported");
    case 0x6A82:
      return with("file or application not found");
    case 0x6A84:
      return with("not enough memory, file full");
    case 0x6A86:
      return with("incorrect P1/P2");
    case 0x6A88:
      return with("reference data not found");
    case 0x6A89:
      return with("file or object already exists");
    case 0x6B00:
      return with("wrong parameters P1/P2");
    case 0x6D00:
      return with("instruction not supported");
    case 0x6E00:
      return with("class not supported");
    case 0x6F00:
      return with("unknown error");
    default:
      return with("unknown status");
  }
}

}  // namespace hsmctl::device
