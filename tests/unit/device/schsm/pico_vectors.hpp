// SPDX-License-Identifier: Apache-2.0
#pragma once
// Byte vectors from pico-hsm.md (section 13: what Pico HSM v6.6 answered) shared by the device
// tests, and small builders for TokenInfo and CV certificates.

#include "../scripted_transport.hpp"

#include "hsmctl/device/schsm/tlv.hpp"

#include <string>
#include <string_view>

namespace hsmctl::device::testing {

inline constexpr std::string_view kSelect = "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00";
/// FCP of a fresh device (options 0000, Pico, v6.6), SW 9000.
inline constexpr std::string_view kFcpFresh =
    "62 22 81 02 00 00 82 01 01 83 02 00 00 84 0B 2B 06 01 04 01 81 C3 1F 02 01 30 8A 01 05 "
    "85 05 00 00 FF 06 06 90 00";
/// FCP after `sc-hsm-tool --initialize` (options 0001).
inline constexpr std::string_view kFcpInit =
    "62 22 81 02 00 00 82 01 01 83 02 00 00 84 0B 2B 06 01 04 01 81 C3 1F 02 01 30 8A 01 05 "
    "85 05 00 01 FF 06 06 90 00";
/// The same from a SmartCard-HSM (type byte 00, version 3.5).
inline constexpr std::string_view kFcpScHsm =
    "62 22 81 02 00 00 82 01 01 83 02 00 00 84 0B E8 2B 06 01 04 01 81 C3 1F 02 01 8A 01 05 "
    "85 05 00 01 00 03 05 90 00";

inline constexpr std::string_view kUserStatus = "00 20 00 81";
inline constexpr std::string_view kSoStatus = "00 20 00 88";
inline constexpr std::string_view kReadTokenInfo = "00 B1 2F 03 04 54 02 00 00 00";
inline constexpr std::string_view kReadDevCert = "00 B1 2F 02 04 54 02 00 00 00";
inline constexpr std::string_view kPkaStatus = "80 54 00 00 00";
inline constexpr std::string_view kEnumerate = "80 58 00 00 00 00 00";
inline std::string domain_status(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "80 52 00 %02X 00", i);
  return buf;
}

inline constexpr std::string_view kSerial = "E6614104035DC431";

/// PKCS#15 TokenInfo as Pico firmware builds it, with `serial_hex` as serialNumber, + SW 9000.
inline Bytes token_info_response(std::string_view serial_hex = kSerial) {
  using schsm::append_tlv;
  Bytes body;
  append_tlv(body, 0x02, H("06"));
  append_tlv(body, 0x04, H(serial_hex));
  append_tlv(body, 0x0C, bytes_of("Pol Henarejos"));
  append_tlv(body, 0x80, bytes_of("Pico-HSM"));
  append_tlv(body, 0x03, H("04 30"));
  Bytes out;
  append_tlv(out, 0x30, body);
  out.push_back(0x90);
  out.push_back(0x00);
  return out;
}

/// A CV certificate 7F21 { 7F4E { 5F29 42 7F49 5F20 }, 5F37 } with the given CAR and CHR.
inline Bytes cv_certificate(std::string_view car, std::string_view chr) {
  using schsm::append_tlv;
  Bytes pub;
  append_tlv(pub, 0x06, H("04 00 7F 00 07 02 02 02 02 03"));
  append_tlv(pub, 0x86, Bytes(65, 0x04));
  Bytes body;
  append_tlv(body, 0x5F29, H("00"));
  append_tlv(body, 0x42, bytes_of(car));
  append_tlv(body, 0x7F49, pub);
  append_tlv(body, 0x5F20, bytes_of(chr));
  Bytes cert_body;
  append_tlv(cert_body, 0x7F4E, body);
  append_tlv(cert_body, 0x5F37, Bytes(64, 0x5A));
  Bytes cert;
  append_tlv(cert, 0x7F21, cert_body);
  return cert;
}

inline Bytes with_sw(Bytes data, std::string_view sw = "90 00") {
  Bytes s = H(sw);
  data.insert(data.end(), s.begin(), s.end());
  return data;
}

}  // namespace hsmctl::device::testing
