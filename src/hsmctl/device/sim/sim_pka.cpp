// SPDX-License-Identifier: Apache-2.0
// Public key authentication status and registration, INS 54 (cmd_puk_auth.c), GET CHALLENGE
// (cmd_challenge.c), and the authentication itself: MSE SET AT (cmd_mse.c) selects a registered
// key by its CHR, EXTERNAL AUTHENTICATE (cmd_external_authenticate.c) checks its signature.
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// cmd_puk_auth.c
Reply SimCard::Impl::cmd_puk_auth(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  if (!p.pka) {
    return status(a.data.empty() ? kSwIncorrectP1P2 : kSwFileNotFound);
  }
  auto& pka = *p.pka;
  p.puk_slots.resize(pka[0]);  // INITIALIZE creates one slot per PKA key
  if (!a.data.empty()) {
    if (a.p1 != 0x00 && a.p1 != 0x01) {
      return status(kSwIncorrectP1P2);
    }
    if (!s.has_session_pin && !s.has_session_sopin) {
      return status(kSwSecurity);
    }
    std::size_t slot = 0;
    if (a.p1 == 0x00) {
      if (a.p2 != 0x00) {
        return status(kSwIncorrectP1P2);
      }
      while (slot < pka[0] && !p.puk_slots[slot].empty()) {
        ++slot;
      }
      if (slot >= pka[0]) {
        return status(kSwFileFull);
      }
      pka[1] = static_cast<std::uint8_t>(pka[1] - 1);
    } else {
      if (!(state.options() & kOptReplacePka)) {
        return status(kSwConditions);
      }
      if (a.p2 >= pka[0]) {
        return status(kSwIncorrectP1P2);
      }
      slot = a.p2;
    }
    p.puk_slots[slot] = a.data;
  }
  if (a.p1 == 0x02) {
    if (a.p2 >= pka[0]) {
      return status(kSwIncorrectP1P2);
    }
    if (p.puk_slots[a.p2].empty()) {
      return status(kSwRefNotFound);
    }
    Reply r = ok(cv_chr(p.puk_slots[a.p2]));
    r.sw = static_cast<std::uint16_t>(0x9000 | s.puk_status[a.p2]);
    return r;
  }
  std::uint8_t authenticated = 0;
  for (std::size_t i = 0; i < pka[0] && i < s.puk_status.size(); ++i) {
    authenticated = static_cast<std::uint8_t>(authenticated + s.puk_status[i]);
  }
  return ok(Bytes{pka[0], pka[1], pka[2], authenticated});
}

// cmd_challenge.c
Reply SimCard::Impl::cmd_challenge(const Apdu& a) {
  if (a.ne == 0 || a.ne > 256) {
    return status(kSwWrongLength);
  }
  Bytes r = crypto::random_bytes(a.ne);
  state.session.puk_status.fill(0);
  state.session.challenge = r;
  return ok(r);
}

// cmd_mse.c. Only SET (P1 bit 0x01) with the control-reference templates the firmware accepts.
// AT (P2 A4) with tag 83 = CHR selects a registered PKA key: 9000, 6985 when it is already
// authenticated in this session (still selected, as the firmware), 6A88 when no registered key
// has that CHR. Differences: the firmware compares the first len(registered CHR) bytes of the
// given one; the simulator compares the whole CHR. DST (P2 B6) with a CHR selects a public key
// of the firmware's certificate store for PSO VERIFY CERTIFICATE, which is not emulated: 6A88, as
// the firmware answers for a CHR not in its store. Tag 80 (secure-messaging protocol) is
// ignored.
Reply SimCard::Impl::cmd_mse(const Apdu& a) {
  const std::uint8_t p2 = a.p2;
  if (p2 != 0xA4 && p2 != 0xA6 && p2 != 0xAA && p2 != 0xB4 && p2 != 0xB6 && p2 != 0xB8) {
    return status(kSwIncorrectP1P2);
  }
  if ((a.p1 & 0x01) == 0) {
    return status(kSwIncorrectP1P2);
  }
  for (const auto& item : tlv::parse(a.data)) {
    if (item.tag != 0x83 || item.value.size() == 1) {
      continue;
    }
    if (p2 != 0xA4) {
      return status(kSwRefNotFound);
    }
    const SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    for (std::size_t i = 0; i < p.puk_slots.size() && i < s.puk_status.size(); ++i) {
      if (p.puk_slots[i].empty()) {
        continue;
      }
      const Bytes chr = cv_chr(p.puk_slots[i]);
      if (!chr.empty() &&
          std::equal(chr.begin(), chr.end(), item.value.begin(), item.value.end())) {
        s.puk_aut_slot = i;
        return status(s.puk_status[i] == 1 ? kSwConditions : kSwOk);
      }
    }
    return status(kSwRefNotFound);
  }
  return status(kSwOk);
}

namespace {

// The registered request's public key: the point (tag 86) and its curve, which the domain
// parameters (prime, tag 81) name; a request without them is taken as P-256. nullopt for a key
// the simulator cannot verify with (RSA, other curves): its signatures never verify.
struct PkaKey {
  Bytes point;
  crypto::Curve curve = crypto::Curve::kP256;
};

std::optional<PkaKey> pka_key(const Bytes& request) {
  const Bytes public_key = cv_field(request, 0x7F49);
  auto point = tlv::find(public_key, 0x86);
  if (!point || point->size() != 65) {
    return std::nullopt;
  }
  PkaKey key{Bytes(point->begin(), point->end()), crypto::Curve::kP256};
  if (auto prime = tlv::find(public_key, 0x81)) {
    bool known = false;
    for (crypto::Curve c : {crypto::Curve::kP256, crypto::Curve::kSecp256k1}) {
      const Bytes& p = crypto::curve_params(c).p;
      if (std::equal(p.begin(), p.end(), prime->begin(), prime->end())) {
        key.curve = c;
        known = true;
      }
    }
    if (!known) {
      return std::nullopt;
    }
  }
  return key;
}

}  // namespace

// cmd_external_authenticate.c: the data is a raw ECDSA signature r || s over
// SHA-256(device CHR || challenge) by the key MSE SET AT selected. The key's flag is cleared
// before the check (a failed attempt un-authenticates it); once the authenticated keys reach the
// required number the session is user-authenticated and the challenge is used up.
Reply SimCard::Impl::cmd_external_authenticate(const Apdu& a) {
  if (a.p1 != 0x00 || a.p2 != 0x00) {
    return status(kSwIncorrectP1P2);
  }
  SimVolatile& s = state.session;
  const SimPersistent& p = state.persistent;
  if (!s.puk_aut_slot || *s.puk_aut_slot >= p.puk_slots.size() ||
      p.puk_slots[*s.puk_aut_slot].empty()) {
    return status(kSwRefNotFound);
  }
  if (a.data.empty()) {
    return status(kSwWrongLength);
  }
  if (s.challenge.empty()) {
    return status(kSwConditions);
  }
  if (!p.pka) {
    return status(kSwFileNotFound);
  }
  const std::size_t slot = *s.puk_aut_slot;
  s.puk_status[slot] = 0;
  Bytes signed_data = str_bytes(p.device_chr);
  signed_data.insert(signed_data.end(), s.challenge.begin(), s.challenge.end());
  auto key = pka_key(p.puk_slots[slot]);
  if (!key || !crypto::verify_ec(key->curve, key->point, signed_data, a.data)) {
    return status(kSwConditions);
  }
  s.puk_status[slot] = 1;
  const auto& pka = *p.pka;
  int authenticated = 0;
  for (std::size_t i = 0; i < pka[0] && i < s.puk_status.size(); ++i) {
    authenticated += s.puk_status[i];
  }
  if (authenticated >= pka[2]) {
    s.user_authenticated = true;
    s.challenge.clear();
  }
  return status(kSwOk);
}

}  // namespace hsmctl::device::sim
