// SPDX-License-Identifier: Apache-2.0
#pragma once
// A public key for public key authentication (PKA), as `sc-hsm-tool --export-for-pub-key-auth`
// writes it: SEQUENCE 30 { the key's authenticated CV request 67, the exporting device's
// certificate(s) } (OpenSC export_key: EF CExx ‖ C_DevAut ‖ DICA). A bare authenticated
// request 67 is accepted too. Only the request is used: its content is what INS 54 registers,
// its certificate holder reference (CHR) is the key's name the device reports per slot.
// (pka-owned; the attest helper's util/cvc* is independent of this small reader.)

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <cstddef>
#include <string>

namespace hsmctl::device::schsm {

/// The largest PKA file read (sc-hsm-tool's own buffers hold a few KiB).
inline constexpr std::size_t kMaxPkaFileBytes = 16384;

struct PkaRequest {
  /// The content of the authenticated request 67: 7F21 { 7F4E body, 5F37 } ‖ 42 outer CAR ‖
  /// 5F37 outer signature: the data of `80 54 00 00` (pico-hsm.md section 6).
  Bytes request;
  /// The CHR (5F20 of the body), as bytes and as text (printable ASCII as is, otherwise hex).
  Bytes chr;
  std::string chr_text;
  /// The outer CAR (42 of the request): the device whose key signed the request.
  std::string outer_car;
};

/// Parses a PKA file. Errors (Errc::kManifest) say what is wrong, never with file bytes beyond
/// tag numbers: not a SEQUENCE or request, truncated TLV, no certificate body, no CHR, no public
/// key, no outer CAR or signature, trailing bytes.
Result<PkaRequest> parse_pka_file(ByteView file);

/// The CHR as hsmctl prints it: printable ASCII (0x20..0x7E) as is, anything else as hex.
std::string chr_text(ByteView chr);

}  // namespace hsmctl::device::schsm
