// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM / Pico HSM protocol constants hsmctl sends and reads: class and instruction
// bytes, P1 operations, INITIALIZE tags, status words, PIN references, the AID and the EFs.
// Facts: ../shared/reference/pico-hsm.md. The simulator (device/sim) keeps its own copies on
// purpose (it is the other side of the wire); tests/unit/device/schsm/constants_parity_test.cpp
// checks that both agree.

#include <array>
#include <cstddef>
#include <cstdint>

namespace hsmctl::device::schsm {

/// Class bytes: ISO 7816-4 commands and the SmartCard-HSM's proprietary ones.
inline constexpr std::uint8_t kClaIso = 0x00;
inline constexpr std::uint8_t kClaProprietary = 0x80;

/// Instruction bytes.
namespace ins {
inline constexpr std::uint8_t kVerify = 0x20;
inline constexpr std::uint8_t kChangeReferenceData = 0x24;
inline constexpr std::uint8_t kResetRetryCounter = 0x2C;
inline constexpr std::uint8_t kInitialize = 0x50;        ///< INITIALIZE DEVICE (CLA 80)
inline constexpr std::uint8_t kManageKeyDomain = 0x52;   ///< CLA 80
inline constexpr std::uint8_t kPublicKeyAuth = 0x54;     ///< CLA 80
inline constexpr std::uint8_t kEnumerateObjects = 0x58;  ///< CLA 80
inline constexpr std::uint8_t kExtras = 0x64;            ///< Pico HSM vendor extras (CLA 80)
inline constexpr std::uint8_t kSelect = 0xA4;
inline constexpr std::uint8_t kReadBinary = 0xB1;  ///< odd INS: offset in a 54 DO
inline constexpr std::uint8_t kGetResponse = 0xC0;
}  // namespace ins

/// P1 of SELECT: by DF name (the AID).
inline constexpr std::uint8_t kSelectByName = 0x04;

/// P1 of RESET RETRY COUNTER.
namespace rrc {
inline constexpr std::uint8_t kSoPinAndNewPin = 0x00;  ///< SO-PIN || new user PIN
inline constexpr std::uint8_t kSoPinOnly = 0x01;       ///< counter only (option 0x0020)
}  // namespace rrc

/// P1 of MANAGE KEY DOMAIN (INS 52); P2 is the domain index.
namespace key_domain_op {
inline constexpr std::uint8_t kStatusOrImport = 0x00;  ///< no data: status; 32 bytes: a DKEK share
inline constexpr std::uint8_t kSetup = 0x01;
inline constexpr std::uint8_t kDelete = 0x03;
inline constexpr std::uint8_t kClearDkek = 0x04;
}  // namespace key_domain_op

/// P1 of EXTRAS (INS 64): the dynamic options (DYNOPS).
inline constexpr std::uint8_t kExtrasDynamicOptions = 0x06;

/// INITIALIZE DEVICE data tags, in the order they are sent (as sc-hsm-tool and pypicohsm do).
namespace init_tag {
inline constexpr std::uint8_t kOptions = 0x80;  ///< 2 bytes, both option bytes
inline constexpr std::uint8_t kUserPin = 0x81;
inline constexpr std::uint8_t kSoPin = 0x82;  ///< 8 bytes
inline constexpr std::uint8_t kPinRetries = 0x91;
inline constexpr std::uint8_t kDkekShares = 0x92;
inline constexpr std::uint8_t kPublicKeyAuth = 0x93;  ///< keys, required
inline constexpr std::uint8_t kKeyDomains = 0x97;
}  // namespace init_tag

/// The data object of READ BINARY (odd INS B1) that carries the offset.
inline constexpr std::uint8_t kReadBinaryOffsetTag = 0x54;

/// Status words.
inline constexpr std::uint16_t kSwOk = 0x9000;
inline constexpr std::uint16_t kSwPkaAuthenticated = 0x9001;  ///< INS 54 P1=02: key authenticated
inline constexpr std::uint16_t kSwEndOfFile = 0x6282;         ///< READ BINARY: fewer bytes than Le
inline constexpr std::uint16_t kSwInitializeDefect = 0x6400;  ///< v6.6 first-INITIALIZE defect
inline constexpr std::uint16_t kSwBlocked = 0x6983;
inline constexpr std::uint16_t kSwTransport = 0x6984;
inline constexpr std::uint16_t kSwFileNotFound = 0x6A82;
inline constexpr std::uint16_t kSwWrongP1P2 = 0x6A86;
inline constexpr std::uint16_t kSwRefNotFound = 0x6A88;
inline constexpr std::uint16_t kSwExists = 0x6A89;
inline constexpr std::uint16_t kSwWrongParams = 0x6B00;
/// SW1 of "more data waiting" (61xx) and "wrong Le, resend with Le = SW2" (6Cxx).
inline constexpr std::uint8_t kSw1MoreData = 0x61;
inline constexpr std::uint8_t kSw1WrongLe = 0x6C;
/// 63Cx: a wrong value, x tries left.
inline constexpr bool is_63cx(std::uint16_t sw) {
  return (sw & 0xFFF0) == 0x63C0;
}
inline constexpr int tries_of_63cx(std::uint16_t sw) {
  return sw & 0x0F;
}

/// PIN references (P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
enum class PinRef : std::uint8_t { kUser = 0x81, kSo = 0x88 };

/// The SmartCard-HSM / Pico HSM application identifier.
inline constexpr std::array<std::uint8_t, 11> kHsmAid = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01,
                                                         0x81, 0xC3, 0x1F, 0x02, 0x01};

/// Well-known elementary files.
inline constexpr std::uint16_t kEfDeviceCertificate = 0x2F02;  ///< C_DevAut chain (CV certs)
inline constexpr std::uint16_t kEfTokenInfo = 0x2F03;          ///< PKCS#15 TokenInfo
/// Private-key objects are EF CCxx; CC00 is the device key (survives INITIALIZE).
inline constexpr std::uint8_t kPrivateKeyFidPrefix = 0xCC;
inline constexpr std::uint16_t kDeviceKeyFid = 0xCC00;

/// SELECT answer: FCP template 62 with the device options in tag 85; device type FF = Pico HSM.
inline constexpr std::uint8_t kFcpTag = 0x62;
inline constexpr std::uint8_t kDeviceOptionsTag = 0x85;
inline constexpr std::uint8_t kDeviceTypePico = 0xFF;

/// INS 54 P1 (public key authentication, pico-hsm.md section 6).
namespace pka_op {
inline constexpr std::uint8_t kRegister = 0x00;  ///< no data: status
inline constexpr std::uint8_t kReplace = 0x01;
inline constexpr std::uint8_t kSlot = 0x02;
}  // namespace pka_op

/// Card-verifiable certificates in EF 2F02 (BSI TR-03110).
namespace cvc {
inline constexpr std::uint32_t kCertificate = 0x7F21;
inline constexpr std::uint32_t kBody = 0x7F4E;
inline constexpr std::uint32_t kCar = 0x42;                   ///< certification authority reference
inline constexpr std::uint32_t kChr = 0x5F20;                 ///< certificate holder reference
inline constexpr std::uint32_t kAuthenticatedRequest = 0x67;  ///< v6.6 writes it before the cert
}  // namespace cvc

/// DER universal tags of PKCS#15 TokenInfo.
namespace der {
inline constexpr std::uint32_t kInteger = 0x02;
inline constexpr std::uint32_t kOctetString = 0x04;
inline constexpr std::uint32_t kSequence = 0x30;
}  // namespace der

/// Key domains: INS 52 answers 6B00 for an index at or above this.
inline constexpr int kMaxKeyDomainSlots = 16;
/// The largest DKEK share count one byte of tag 92 / INS 52 P1=01 carries (the protocol's
/// bound; the manifest's policy, model/limits.hpp, is tighter).
inline constexpr int kMaxProtocolDkekShares = 254;
/// A DKEK share is 32 bytes.
inline constexpr std::size_t kDkekShareBytes = 32;
/// The SO-PIN is exactly 8 bytes; a user PIN at most 16.
inline constexpr std::size_t kSoPinBytes = 8;
inline constexpr std::size_t kMaxUserPinBytes = 16;

}  // namespace hsmctl::device::schsm
