// SPDX-License-Identifier: Apache-2.0
// CV certificates (BSI TR-03110 layout, as pico-hsm's cvc.c builds them), PKCS#15 descriptors
// and the device identity INITIALIZE creates.
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

#include <algorithm>

namespace hsmctl::device::sim::detail {

namespace {

// Big-endian integer without leading zero bytes, as mbedtls_mpi_write_binary(x, mpi_size(x))
// writes it; zero becomes one 00 byte (asn1_cvc_public_key_ecdsa writes "82 01 00" for the
// A = 0 of secp256k1).
Bytes minimal_integer(const Bytes& v) {
  auto first = std::find_if(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
  if (first == v.end()) {
    return Bytes{0x00};
  }
  return Bytes(first, v.end());
}

}  // namespace

// cvc.c asn1_cvc_public_key_ecdsa(): 7F49 { 06 id-TA-ECDSA-SHA-256, 81 p, 82 A, 83 B, 84 G,
// 85 order, 86 point, 87 cofactor }. A and B are written at their integer size (P-256: full 32
// bytes; secp256k1: 82 01 00, 83 01 07). Without domain parameters: OID and point only (the form
// CV certificates issued by a PKI use).
Bytes cv_public_key(const Bytes& point, bool with_domain_parameters, crypto::Curve curve) {
  Bytes inner;
  tlv::put(inner, 0x06, kOidEcdsaSha256);
  if (with_domain_parameters) {
    const auto& d = crypto::curve_params(curve);
    tlv::put(inner, 0x81, d.p);
    tlv::put(inner, 0x82, minimal_integer(d.a));
    tlv::put(inner, 0x83, minimal_integer(d.b));
    tlv::put(inner, 0x84, d.g);
    tlv::put(inner, 0x85, d.n);
    tlv::put(inner, 0x86, point);
    tlv::put(inner, 0x87, d.h);
  } else {
    tlv::put(inner, 0x86, point);
  }
  return tlv::make(0x7F49, inner);
}

// cvc.c asn1_cvc_cert_body(): 7F4E { 5F29 00, 42 CAR, 7F49 key, 5F20 CHR [, 7F4C role, 5F25
// effective date, 5F24 expiration date] }. The "full" form (certificates, not requests) carries
// the firmware's fixed role (CHAT: OID id-AT 0.4.0.127.0.7.3.1.2.2, discretionary data 53 01 00)
// and its fixed dates 2023-03-21 .. 2070-12-31 (one BCD digit per byte, YYMMDD).
Bytes cv_body(const std::string& car, const Bytes& public_key, const std::string& chr, bool full) {
  Bytes body;
  tlv::put(body, 0x5F29, Bytes{0x00});
  tlv::put(body, 0x42, str_bytes(car));
  body.insert(body.end(), public_key.begin(), public_key.end());
  tlv::put(body, 0x5F20, str_bytes(chr));
  if (full) {
    tlv::put(
        body, 0x7F4C,
        Bytes{0x06, 0x09, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02, 0x53, 0x01, 0x00});
    tlv::put(body, 0x5F25, Bytes{0x02, 0x03, 0x00, 0x03, 0x02, 0x01});  // 2023-03-21
    tlv::put(body, 0x5F24, Bytes{0x07, 0x00, 0x01, 0x02, 0x03, 0x01});  // 2070-12-31
  }
  return tlv::make(0x7F4E, body);
}

// 7F21 { body, 5F37 signature-by-signer(body) }.
std::optional<Bytes> cv_certificate(const Bytes& body, const crypto::EcKeyPair& signer) {
  auto sig = crypto::sign_ec(signer, body);
  if (!sig) {
    return std::nullopt;
  }
  Bytes inner = body;
  tlv::put(inner, 0x5F37, *sig);
  return tlv::make(0x7F21, inner);
}

// 67 { certificate, 42 outer CAR, 5F37 outer signature } (authenticated request).
std::optional<Bytes> cv_authenticated_request(const Bytes& certificate,
                                              const std::string& outer_car,
                                              const crypto::EcKeyPair& outer_signer) {
  Bytes inner = certificate;
  tlv::put(inner, 0x42, str_bytes(outer_car));
  auto sig = crypto::sign_ec(outer_signer, inner);
  if (!sig) {
    return std::nullopt;
  }
  tlv::put(inner, 0x5F37, *sig);
  return tlv::make(0x67, inner);
}

// A field (5F20 CHR, 42 CAR) of the body of a CV certificate or (authenticated) request;
// empty if absent.
Bytes cv_field(ByteView data, std::uint32_t tag) {
  ByteView cur = data;
  for (int depth = 0; depth < 4; ++depth) {
    auto items = tlv::parse(cur);
    if (items.empty()) {
      return {};
    }
    if (items[0].tag == 0x7F4E) {
      auto v = tlv::find(items[0].value, tag);
      return v ? Bytes(v->begin(), v->end()) : Bytes{};
    }
    if (items[0].tag != 0x67 && items[0].tag != 0x7F21) {
      return {};
    }
    cur = items[0].value;
  }
  return {};
}

Bytes cv_chr(ByteView data) {
  return cv_field(data, 0x5F20);
}

// PKCS#15 PrivateECKey descriptor (what OpenSC's sc_pkcs15_decode_prkdf_entry expects).
Bytes ec_prkd(const std::string& label, const Bytes& id, int field_bits) {
  Bytes common_object;
  tlv::put(common_object, 0x0C, str_bytes(label));
  Bytes common_key;
  tlv::put(common_key, 0x04, id);
  tlv::put(common_key, 0x03, Bytes{0x07, 0x20, 0x80});  // sign, derive
  Bytes ec_attr;
  tlv::put(ec_attr, 0x30, tlv::make(0x04, Bytes{}));  // empty path
  tlv::put(
      ec_attr, 0x02,
      Bytes{static_cast<std::uint8_t>(field_bits >> 8), static_cast<std::uint8_t>(field_bits)});
  Bytes body;
  tlv::put(body, 0x30, common_object);
  tlv::put(body, 0x30, common_key);
  tlv::put(body, 0xA1, tlv::make(0x30, ec_attr));
  return tlv::make(0xA0, body);
}

crypto::EcKeyPair key_pair(const SimKey& k) {
  return {k.private_scalar, k.public_point,
          k.secp256k1 ? crypto::Curve::kSecp256k1 : crypto::Curve::kP256};
}

}  // namespace hsmctl::device::sim::detail

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// cmd_initialize.c (v6.6): a new device key on secp256k1 (the emulation and RP2350/ESP32
// builds derive it from OTP; elsewhere the firmware uses P-256), then
//   EF CE00 = asn1_cvc_aut(): 67 { 7F21 { body without role/dates, signed by the key }, 42 outer
//             CAR, 5F37 outer signature by the device key }. The outer CAR is the firmware's
//             dev_name, still unset when INITIALIZE runs, so it is empty (42 00);
//   EF 2F02 = that request followed by asn1_cvc_cert(full): the self-signed certificate with
//             role and dates (CAR == CHR == "ESPICOHSMTR00001"). 798 bytes in all, as observed;
//   EF C400 = PrKD of the device key.
bool SimCard::Impl::create_device_identity() {
  auto key = crypto::generate_ec(crypto::Curve::kSecp256k1);
  if (!key) {
    return false;
  }
  const Bytes pub = cv_public_key(key->public_point, true, crypto::Curve::kSecp256k1);
  auto req_cert = cv_certificate(cv_body(kSelfSignedChr, pub, kSelfSignedChr, false), *key);
  auto cert = cv_certificate(cv_body(kSelfSignedChr, pub, kSelfSignedChr, true), *key);
  if (!cert || !req_cert) {
    return false;
  }
  auto request = cv_authenticated_request(*req_cert, "", *key);
  if (!request) {
    return false;
  }
  SimPersistent& p = state.persistent;
  p.keys[0] = SimKey{key->private_scalar, key->public_point, 0, true};
  Bytes termca = *request;
  termca.insert(termca.end(), cert->begin(), cert->end());
  p.files[kFidTermCa] = termca;
  p.files[kFidEeDev] = *request;
  p.files[kFidPrkdDev] = ec_prkd(kDeviceLabel, Bytes(20, 0), 256);
  p.device_chr = kSelfSignedChr;
  p.device_cert_pki = false;
  p.device_key_generation += 1;
  return true;
}

// EF 2F02 = device certificate (CHR `chr`, issued by `dv_chr`) followed by the DV certificate
// (issued by `ca_chr`), both signed by throwaway keys. Creates the device key first if missing.
bool SimCard::Impl::install_pki_chain(const std::string& chr, const std::string& dv_chr,
                                      const std::string& ca_chr) {
  SimPersistent& p = state.persistent;
  if (p.keys.count(0) == 0 && !create_device_identity()) {
    return false;
  }
  auto ca = crypto::generate_p256();
  auto dv = crypto::generate_p256();
  if (!ca || !dv) {
    return false;
  }
  auto dv_cert =
      cv_certificate(cv_body(ca_chr, cv_public_key(dv->public_point, false), dv_chr, true), *ca);
  auto dev_cert = cv_certificate(
      cv_body(dv_chr, cv_public_key(p.keys.at(0).public_point, false), chr, true), *dv);
  // (The device key's curve is not in a certificate without domain parameters.)
  if (!dv_cert || !dev_cert) {
    return false;
  }
  Bytes chain = *dev_cert;
  chain.insert(chain.end(), dv_cert->begin(), dv_cert->end());
  p.files[kFidTermCa] = chain;
  p.device_chr = chr;
  p.device_cert_pki = true;
  return true;
}

// A SmartCard-HSM leaves production with its device key and a PKI-issued certificate; INITIALIZE
// never replaces them (pico-hsm.md section 3). The names are the simulator's own (the real
// CardContact CA and DICA names are not modelled): CHR "DESIM" + the first 6 hex digits of the
// chip serial + "00001", so OpenSC's serial (the CHR without its last 5 characters) differs per
// device, as on a real card.
void SimCard::Impl::manufacture(const Bytes& serial, SimFlavour flavour) {
  state = SimState::fresh(serial, flavour);
  if (flavour == SimFlavour::kSmartCardHsm) {
    const std::string chr = "DESIM" + to_hex(state.persistent.serial).substr(0, 6) + "00001";
    if (!install_pki_chain(chr, "DESIMDV000001", "DESIMCA000001")) {
      state = SimState::fresh(serial, flavour);  // INITIALIZE creates one then
    }
  }
}

Result<void> SimCard::install_pki_device_chain(const std::string& chr) {
  if (chr.size() < 8) {
    return make_error(Errc::kInternal, "install_pki_device_chain: CHR too short");
  }
  if (!impl_->install_pki_chain(chr, "ESPICOHSMDV00001", "ESPICOHSMCA00001")) {
    return make_error(Errc::kInternal,
                      "install_pki_device_chain: key generation or signing failed");
  }
  return impl_->save_if_changed();
}

}  // namespace hsmctl::device::sim
