// SPDX-License-Identifier: Apache-2.0
#pragma once
// Card-verifiable (CV) certificates and certificate requests, BSI TR-03110 layout, as the
// SmartCard-HSM / Pico HSM keep them: the device certificate file EF 2F02 (C_DevAut), trust
// anchors for device attestation, public-key-authentication requests. Parsing only (no
// cryptography): secrets/attestation.hpp verifies signatures and chains.
//
//   7F21 certificate { 7F4E body { 5F29 profile, 42 CAR, 7F49 public key, 5F20 CHR
//                                  [, 7F4C CHAT/role] [, 5F25 effective] [, 5F24 expiration]
//                                  [, 65 extensions] },
//                      5F37 signature (plain r || s over the whole 7F4E TLV) }
//   67 authenticated request { 7F21 { ... }, 42 outer CAR, 5F37 outer signature over the
//                              7F21 TLV followed by the 42 TLV }
//   7F49 public key { 06 OID, [81 p, 82 a, 83 b, 84 G, 85 n,] 86 point [, 87 cofactor] }

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::cvc {

inline constexpr std::uint32_t kTagCertificate = 0x7F21;
inline constexpr std::uint32_t kTagAuthenticatedRequest = 0x67;
inline constexpr std::uint32_t kTagBody = 0x7F4E;
inline constexpr std::uint32_t kTagProfile = 0x5F29;
inline constexpr std::uint32_t kTagCar = 0x42;
inline constexpr std::uint32_t kTagPublicKey = 0x7F49;
inline constexpr std::uint32_t kTagChr = 0x5F20;
inline constexpr std::uint32_t kTagChat = 0x7F4C;
inline constexpr std::uint32_t kTagEffective = 0x5F25;
inline constexpr std::uint32_t kTagExpiration = 0x5F24;
inline constexpr std::uint32_t kTagSignature = 0x5F37;

/// One BER-TLV element (tags up to 4 bytes, definite lengths up to 3 length bytes).
struct Tlv {
  std::uint32_t tag = 0;  ///< tag bytes big-endian ("7F21" -> 0x7F21)
  ByteView value;
  ByteView whole;  ///< tag, length and value
};
/// Parses one TLV at the start of `data`; nullopt if truncated or malformed.
std::optional<Tlv> parse_tlv(ByteView data);

/// A calendar date of a CV certificate (BCD YYMMDD, one digit per byte; years 2000-2099).
struct Date {
  int year = 0;  ///< full year, 2000..2099
  int month = 0;
  int day = 0;
  friend auto operator<=>(const Date&, const Date&) = default;
};
/// "2070-12-31".
std::string format_date(const Date& d);

/// 7F49. Domain parameters are present in self-signed (root) certificates and requests, usually
/// absent in issued ones (the curve is then the issuer's).
struct PublicKey {
  Bytes oid;    ///< value of tag 06 (e.g. id-TA-ECDSA-SHA-256 04 00 7F 00 07 02 02 02 02 03)
  Bytes point;  ///< value of tag 86: the uncompressed point 04 || X || Y
  Bytes p, a, b, g, n, h;  ///< tags 81..85 and 87; empty when absent
  bool has_domain_parameters() const { return !p.empty(); }
};

/// One CV certificate or the 7F21 inside a request (same layout).
struct Certificate {
  int profile = 0;  ///< 5F29 (0)
  std::string car;  ///< 42: issuer (printable; non-printable bytes as \xNN)
  std::string chr;  ///< 5F20: subject
  PublicKey key;
  std::optional<Bytes> chat;       ///< value of 7F4C (role OID + 53 discretionary data), if present
  std::optional<Date> effective;   ///< 5F25
  std::optional<Date> expiration;  ///< 5F24
  Bytes body;                      ///< the whole 7F4E TLV: what the signature covers
  Bytes signature;                 ///< 5F37 value, plain r || s
  Bytes encoded;                   ///< the whole 7F21 TLV
  /// The CHAT's role OID in dotted form ("0.4.0.127.0.7.3.1.2.2"), empty without a CHAT.
  std::string role_oid() const;
};

/// A top-level element of EF 2F02 or of a trust file: a certificate, or an authenticated
/// request (67) wrapping a certificate-shaped request and an outer signature.
struct Element {
  bool authenticated_request = false;
  Certificate cert;       ///< the certificate, or the request's inner 7F21
  std::string outer_car;  ///< 67 only: the outer 42 (may be empty)
  Bytes outer_signed;     ///< 67 only: inner 7F21 TLV || outer 42 TLV
  Bytes outer_signature;  ///< 67 only: outer 5F37 value
};

/// Parses one 7F21 TLV (exactly `data`, nothing after it). Errc::kDevice naming what is wrong.
Result<Certificate> parse_certificate(ByteView data);
/// Parses a concatenation of 7F21 certificates and 67 requests (EF 2F02, a trust file). Trailing
/// zero or FF padding after the last element is ignored; anything else malformed is an error
/// (Errc::kDevice) naming the element number (1-based). An empty input is an error.
Result<std::vector<Element>> parse_elements(ByteView data);

}  // namespace hsmctl::cvc
