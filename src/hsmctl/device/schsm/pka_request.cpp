// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/pka_request.hpp"

#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/tlv.hpp"

#include <algorithm>

namespace hsmctl::device::schsm {
namespace {

constexpr std::uint32_t kPublicKey = 0x7F49;
constexpr std::uint32_t kSignature = 0x5F37;

tl::unexpected<Error> bad(const std::string& what) {
  return make_error(Errc::kManifest,
                    "not a public key exported for public key authentication "
                    "(sc-hsm-tool --export-for-pub-key-auth): " +
                        what);
}

}  // namespace

std::string chr_text(ByteView chr) {
  const bool printable = !chr.empty() && std::all_of(chr.begin(), chr.end(), [](std::uint8_t b) {
    return b >= 0x20 && b <= 0x7E;
  });
  if (printable)
    return std::string(chr.begin(), chr.end());
  return to_hex(chr);
}

Result<PkaRequest> parse_pka_file(ByteView file) {
  if (file.empty())
    return bad("the file is empty");
  auto outer = parse_tlv(file);
  if (!outer)
    return bad("a truncated or malformed TLV at the start");
  if (outer->whole.size() != file.size())
    return bad("bytes after the first TLV");
  Tlv request_tlv = *outer;
  if (outer->tag == der::kSequence) {
    // OpenSC's export: the request first, then the exporting device's certificates.
    auto first = parse_tlv(outer->value);
    if (!first)
      return bad("a truncated or malformed TLV inside the SEQUENCE");
    request_tlv = *first;
  }
  if (request_tlv.tag != cvc::kAuthenticatedRequest) {
    return bad("no authenticated CV request (tag 67) where expected");
  }
  auto parts = parse_tlvs(request_tlv.value);
  if (!parts || parts->size() != 3 || (*parts)[0].tag != cvc::kCertificate ||
      (*parts)[1].tag != cvc::kCar || (*parts)[2].tag != kSignature) {
    return tl::unexpected(
        bad("the request is not 7F21 (request) + 42 (outer CAR) + 5F37 (outer signature)"));
  }
  auto body = find_tlv((*parts)[0].value, cvc::kBody);
  if (!body)
    return bad("the request has no body (7F4E)");
  if (!find_tlv((*parts)[0].value, kSignature))
    return bad("the request has no inner signature (5F37)");
  auto chr = find_tlv(*body, cvc::kChr);
  if (!chr || chr->empty())
    return bad("the request has no holder reference (5F20)");
  if (!find_tlv(*body, kPublicKey))
    return bad("the request has no public key (7F49)");
  if ((*parts)[1].value.empty() || (*parts)[2].value.empty())
    return bad("the outer CAR or signature is empty");
  PkaRequest out;
  out.request.assign(request_tlv.value.begin(), request_tlv.value.end());
  out.chr.assign(chr->begin(), chr->end());
  out.chr_text = chr_text(*chr);
  out.outer_car = chr_text((*parts)[1].value);
  return out;
}

}  // namespace hsmctl::device::schsm
