// SPDX-License-Identifier: Apache-2.0
// ATR capability parsing and extended-to-short APDU rewriting. No PC/SC here: the functions work
// on bytes and a raw-exchange callback, so unit tests drive them without pcscd.

#include "hsmctl/device/pcsc/pcsc_transport.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace hsmctl::device::pcsc {
namespace {

constexpr std::size_t kShortChunk = 255;
constexpr std::uint8_t kChainingBit = 0x10;
constexpr int kMaxGetResponse = 1024;  // 256 KiB at 256 bytes each: more means a looping card

/// Historical bytes of an ATR (ISO 7816-3 section 8.2), nullopt when the ATR is too short.
std::optional<ByteView> historical_bytes(ByteView atr) {
  if (atr.size() < 2) {
    return std::nullopt;
  }
  const std::size_t k = atr[1] & 0x0F;
  std::size_t pos = 2;
  std::uint8_t y = atr[1] >> 4;
  for (;;) {
    // TA, TB, TC are present when bits 5, 6, 7 of the indicator are set; TD when bit 8 is.
    pos += static_cast<std::size_t>((y & 1) + ((y >> 1) & 1) + ((y >> 2) & 1));
    if ((y & 0x08) == 0) {
      break;
    }
    if (pos >= atr.size()) {
      return std::nullopt;
    }
    y = atr[pos] >> 4;
    ++pos;
  }
  if (pos + k > atr.size()) {
    return std::nullopt;
  }
  return atr.subspan(pos, k);
}

/// A command split into its ISO 7816-4 fields.
struct ParsedCommand {
  std::uint8_t header[4] = {0, 0, 0, 0};
  ByteView data;
  std::optional<std::size_t> le;  // 1..65536
  bool extended = false;
};

std::optional<ParsedCommand> parse(ByteView c) {
  ParsedCommand p;
  if (c.size() < 4) {
    return std::nullopt;
  }
  for (int i = 0; i < 4; ++i) {
    p.header[i] = c[static_cast<std::size_t>(i)];
  }
  const std::size_t n = c.size();
  if (n == 4) {
    return p;
  }
  if (n == 5) {
    p.le = c[4] == 0 ? 256 : c[4];
    return p;
  }
  if (c[4] != 0) {  // short case 3 or 4
    const std::size_t lc = c[4];
    if (n == 5 + lc) {
      p.data = c.subspan(5, lc);
      return p;
    }
    if (n == 6 + lc) {
      p.data = c.subspan(5, lc);
      p.le = c[n - 1] == 0 ? 256 : c[n - 1];
      return p;
    }
    return std::nullopt;
  }
  // Extended: 00 followed by two bytes.
  if (n < 7) {
    return std::nullopt;
  }
  p.extended = true;
  const std::size_t b = (static_cast<std::size_t>(c[5]) << 8) | c[6];
  if (n == 7) {  // case 2E
    p.le = b == 0 ? 65536 : b;
    return p;
  }
  if (b == 0) {
    return std::nullopt;
  }
  if (n == 7 + b) {  // case 3E
    p.data = c.subspan(7, b);
    return p;
  }
  if (n == 9 + b) {  // case 4E
    p.data = c.subspan(7, b);
    const std::size_t le = (static_cast<std::size_t>(c[n - 2]) << 8) | c[n - 1];
    p.le = le == 0 ? 65536 : le;
    return p;
  }
  return std::nullopt;
}

Bytes short_apdu(const std::uint8_t header[4], std::uint8_t cla, ByteView data,
                 std::optional<std::size_t> le) {
  Bytes out{cla, header[1], header[2], header[3]};
  if (!data.empty()) {
    out.push_back(static_cast<std::uint8_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
  }
  if (le) {
    out.push_back(*le >= 256 ? 0 : static_cast<std::uint8_t>(*le));
  }
  return out;
}

std::uint16_t sw_of(const Bytes& r) {
  return static_cast<std::uint16_t>((r[r.size() - 2] << 8) | r[r.size() - 1]);
}

/// Follows 61xx with GET RESPONSE, concatenating data, until another status arrives.
Result<Bytes> collect(Bytes response, std::uint8_t cla,
                      const std::function<Result<Bytes>(ByteView)>& raw) {
  Bytes data;
  for (int round = 0; response.size() >= 2 && response[response.size() - 2] == 0x61; ++round) {
    if (round == kMaxGetResponse) {
      break;  // give the caller the last 61xx rather than looping forever
    }
    data.insert(data.end(), response.begin(), response.end() - 2);
    const std::uint8_t get_response[5] = {static_cast<std::uint8_t>(cla & 0x80 ? 0x00 : cla & 0x03),
                                          0xC0, 0x00, 0x00, response[response.size() - 1]};
    HSMCTL_TRY_ASSIGN(response, raw(get_response));
  }
  if (data.empty()) {
    return response;
  }
  data.insert(data.end(), response.begin(), response.end());
  return data;
}

}  // namespace

bool atr_supports_extended_apdus(ByteView atr) {
  const auto hist = historical_bytes(atr);
  if (!hist || hist->empty() || (*hist)[0] != 0x80) {
    return false;  // only the compact-TLV format (category indicator 80) is interpreted
  }
  std::size_t pos = 1;
  while (pos < hist->size()) {
    const std::uint8_t tag = (*hist)[pos] >> 4;
    const std::size_t len = (*hist)[pos] & 0x0F;
    if (pos + 1 + len > hist->size()) {
      return false;
    }
    if (tag == 7 && len >= 3) {
      return ((*hist)[pos + 3] & 0x40) != 0;
    }
    pos += 1 + len;
  }
  return false;
}

Result<Bytes> transmit_shaped(ByteView command, bool extended_ok,
                              const std::function<Result<Bytes>(ByteView)>& raw) {
  const auto parsed = parse(command);
  if (!parsed) {
    return raw(command);
  }
  const std::uint8_t cla = parsed->header[0];
  Bytes response;
  if (parsed->extended && !extended_ok) {
    // Chain the data in 255-byte pieces; every piece but the last carries CLA bit 0x10 and no Le.
    ByteView rest = parsed->data;
    while (rest.size() > kShortChunk) {
      const Bytes piece = short_apdu(parsed->header, static_cast<std::uint8_t>(cla | kChainingBit),
                                     rest.first(kShortChunk), std::nullopt);
      HSMCTL_TRY_ASSIGN(Bytes r, raw(piece));
      if (r.size() < 2 || sw_of(r) != 0x9000) {
        return r;  // the card refused a piece: its status word is the answer
      }
      rest = rest.subspan(kShortChunk);
    }
    const Bytes last = short_apdu(parsed->header, cla, rest, parsed->le);
    HSMCTL_TRY_ASSIGN(response, raw(last));
  } else {
    HSMCTL_TRY_ASSIGN(response, raw(command));
    if (!parsed->extended && parsed->le && response.size() == 2 && response[0] == 0x6C) {
      // Wrong Le: the card tells the right one; resend once.
      const Bytes again =
          short_apdu(parsed->header, cla, parsed->data,
                     response[1] == 0 ? 256 : static_cast<std::size_t>(response[1]));
      HSMCTL_TRY_ASSIGN(response, raw(again));
    }
  }
  return collect(std::move(response), cla, raw);
}

}  // namespace hsmctl::device::pcsc
