// SPDX-License-Identifier: Apache-2.0
// Public key authentication status and registration, INS 54 (cmd_puk_auth.c), and GET
// CHALLENGE (cmd_challenge.c).
#include "hsmctl/device/sim/sim_impl.hpp"

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

}  // namespace hsmctl::device::sim
