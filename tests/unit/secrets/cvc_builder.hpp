// SPDX-License-Identifier: Apache-2.0
#pragma once
// Builds CV certificates for the attestation and CVC parser tests (TR-03110 layout, as the
// simulator and pico-hsm's cvc.c write them), signed with the simulator's crypto.

#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/util/bytes.hpp"

#include <string>

namespace hsmctl::testcvc {

namespace crypto = device::sim::crypto;

inline Bytes tlv(std::uint32_t tag, ByteView value) {
  Bytes out;
  device::schsm::append_tlv(out, tag, value);
  return out;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes public_key(const crypto::EcKeyPair& k, bool domain) {
  const Bytes oid{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03};
  if (!domain)
    return tlv(0x7F49, cat({tlv(0x06, oid), tlv(0x86, k.public_point)}));
  const auto& d = crypto::curve_params(k.curve);
  return tlv(0x7F49,
             cat({tlv(0x06, oid), tlv(0x81, d.p), tlv(0x82, d.a), tlv(0x83, d.b), tlv(0x84, d.g),
                  tlv(0x85, d.n), tlv(0x86, k.public_point), tlv(0x87, d.h)}));
}

/// Dates as six BCD digits "YYMMDD".
inline Bytes bcd(const std::string& yymmdd) {
  Bytes out;
  for (char c : yymmdd)
    out.push_back(static_cast<std::uint8_t>(c - '0'));
  return out;
}

inline Bytes body(const std::string& car, const Bytes& key, const std::string& chr,
                  const std::string& from = "230321", const std::string& to = "701231") {
  return tlv(0x7F4E,
             cat({tlv(0x5F29, Bytes{0}), tlv(0x42, bytes_of(car)), key, tlv(0x5F20, bytes_of(chr)),
                  tlv(0x7F4C, Bytes{0x06, 0x09, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02,
                                    0x02, 0x53, 0x01, 0x00}),
                  tlv(0x5F25, bcd(from)), tlv(0x5F24, bcd(to))}));
}

inline Bytes certificate(const Bytes& b, const crypto::EcKeyPair& signer) {
  return tlv(0x7F21, cat({b, tlv(0x5F37, crypto::sign_ec(signer, b).value_or(Bytes{}))}));
}

/// A three-level PKI chain: device (P-256 or secp256k1) <- DV <- self-signed CA.
struct Pki {
  crypto::EcKeyPair ca = *crypto::generate_p256();
  crypto::EcKeyPair dv = *crypto::generate_p256();
  crypto::EcKeyPair dev = *crypto::generate_ec(crypto::Curve::kSecp256k1);
  Bytes ca_cert = certificate(body("ESTESTCA00001", public_key(ca, true), "ESTESTCA00001"), ca);
  Bytes dv_cert = certificate(body("ESTESTCA00001", public_key(dv, false), "ESTESTDV00001"), ca);
  Bytes dev_cert = certificate(body("ESTESTDV00001", public_key(dev, false), "ESTESTDEVICE1"), dv);
  Bytes file() const { return cat({dev_cert, dv_cert, ca_cert}); }
};

}  // namespace hsmctl::testcvc
