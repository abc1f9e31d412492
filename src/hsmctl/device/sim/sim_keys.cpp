// SPDX-License-Identifier: Apache-2.0
// GENERATE ASYMMETRIC KEY PAIR (cmd_keypair_gen.c) and the install_key() test helper.
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

#include <algorithm>

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// cmd_keypair_gen.c, P-256 only.
Reply SimCard::Impl::cmd_keypair_gen(const Apdu& a) {
  SimVolatile& s = state.session;
  if (!s.user_authenticated) {
    return status(kSwSecurity);
  }
  auto pub = tlv::find(a.data, 0x7F49);
  if (!pub || pub->empty()) {
    return status(kSwWrongData);
  }
  auto oid = tlv::find(*pub, 0x06);
  if (!oid || oid->empty()) {
    return status(kSwWrongData);
  }
  if (!starts_with(*oid, ByteView(kOidEcdsaSha256).first(std::min<std::size_t>(oid->size(), 10)))) {
    return status(kSwFuncNotSupported);  // RSA generation is not emulated
  }
  auto prime = tlv::find(*pub, 0x81);
  if (!prime) {
    return status(kSwWrongData);
  }
  if (!std::equal(prime->begin(), prime->end(), crypto::p256_params().p.begin(),
                  crypto::p256_params().p.end())) {
    return status(kSwFuncNotSupported);  // other curves are not emulated
  }
  auto key = crypto::generate_p256();
  if (!key) {
    return status(kSwExecError);
  }
  int key_id = a.p1;
  auto car_tag = tlv::find(a.data, 0x42);
  auto chr_tag = tlv::find(a.data, 0x5F20);
  std::string car = car_tag ? std::string(car_tag->begin(), car_tag->end()) : "UTCA00001";
  std::string chr = chr_tag ? std::string(chr_tag->begin(), chr_tag->end())
                            : "UTTM" + std::to_string(10000 + key_id);
  auto body = cv_body(car, cv_public_key(key->public_point, true), chr, false);
  auto cert = cv_certificate(body, *key);
  const SimPersistent& p = state.persistent;
  if (!cert || p.keys.count(0) == 0) {
    return status(kSwExecError);
  }
  std::string outer_car = p.device_chr.empty() ? kSelfSignedChr : p.device_chr;
  auto request = cv_authenticated_request(*cert, outer_car, key_pair(p.keys.at(0)));
  if (!request) {
    return status(kSwExecError);
  }
  // store_keys(): encrypting under the MKEK needs a PIN or SO-PIN session.
  Bytes mkek;
  if (load_mkek(mkek) != MkekResult::kOk) {
    return status(kSwExecError);
  }
  int domain = 0;
  if (auto d = tlv::find(a.data, 0x92); d && !d->empty()) {
    domain = (*d)[0];
  }
  SimPersistent& pm = state.persistent;
  pm.keys[key_id] = SimKey{key->private_scalar, key->public_point, domain};
  // store_keys(): empty label, ID = the key id in decimal ASCII.
  pm.files[static_cast<std::uint16_t>(0xC400 | key_id)] =
      ec_prkd("", str_bytes(std::to_string(key_id)), 256);
  pm.files[static_cast<std::uint16_t>(0xCE00 | key_id)] = *request;
  Reply r = ok(*request);
  r.no_chaining = a.ne == 0;
  return r;
}

Result<void> SimCard::install_key(int key_id, int domain) {
  if (key_id < 1 || key_id > 255 || domain < 0 || domain > 255) {
    return make_error(Errc::kInternal, "install_key: key id or domain out of range");
  }
  auto key = crypto::generate_p256();
  if (!key) {
    return make_error(Errc::kInternal, "install_key: key generation failed");
  }
  SimPersistent& p = impl_->state.persistent;
  p.keys[key_id] = SimKey{key->private_scalar, key->public_point, domain};
  p.files[static_cast<std::uint16_t>(0xC400 | key_id)] =
      ec_prkd("", str_bytes(std::to_string(key_id)), 256);
  auto body = cv_body("UTCA00001", cv_public_key(key->public_point, true),
                      "UTTM" + std::to_string(10000 + key_id), false);
  auto cert = cv_certificate(body, *key);
  if (!cert) {
    return make_error(Errc::kInternal, "install_key: signing failed");
  }
  p.files[static_cast<std::uint16_t>(0xCE00 | key_id)] = *cert;
  return impl_->save_if_changed();
}

}  // namespace hsmctl::device::sim
