// SPDX-License-Identifier: Apache-2.0
// Vendor extras, INS 64 (cmd_extras.c), and the rescue applet (pico-keys-sdk rescue.c).
#include "hsmctl/device/sim/sim_impl.hpp"

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// cmd_extras.c at v6.6: only DYNOPS (06) and secure lock (3A) remain.
Reply SimCard::Impl::cmd_extras(const Apdu& a) {
  SimPersistent& p = state.persistent;
  if (!state.session.user_authenticated) {
    return status(kSwSecurity);
  }
  if (state.options() & kOptButton) {
    p.button_presses += 1;  // pressed at once
  }
  if (a.p1 == 0x06) {
    if (a.p2 != 0x00) {
      return status(kSwIncorrectP1P2);
    }
    if (a.data.size() > 1) {
      return status(kSwWrongLength);
    }
    std::uint16_t opts = state.options();
    if (a.data.empty()) {
      return ok(u16(opts));
    }
    p.options = static_cast<std::uint16_t>((a.data[0] << 8) | (opts & 0xFF));
    return ok({});
  }
  return status(kSwIncorrectP1P2);  // 3A (secure lock) is not emulated; 0A/1B/4C/FB/05 removed
}

// sdk rescue.c (emulation build).
Reply SimCard::Impl::rescue(const Apdu& a) {
  if (a.cla != 0x80) {
    return status(kSwClaNotSupported);
  }
  switch (a.ins) {
    case 0x10:  // sign with the OTP attestation key: no OTP key on emulation
      if (a.data.empty()) {
        return status(kSwWrongLength);
      }
      return status(kSwInsNotSupported);
    case 0x1C:
      if (a.data.size() < 2) {
        return status(kSwWrongLength);
      }
      return ok({});
    case 0x1E: {
      if (!a.data.empty()) {
        return status(kSwWrongLength);
      }
      if (a.p1 == 0x02) {
        Bytes r;
        std::uint32_t used = 0, total = 0x100000, files = 0;
        for (std::uint32_t v : {total - used, used, total, files, total}) {
          r.push_back(static_cast<std::uint8_t>(v >> 24));
          r.push_back(static_cast<std::uint8_t>(v >> 16));
          r.push_back(static_cast<std::uint8_t>(v >> 8));
          r.push_back(static_cast<std::uint8_t>(v));
        }
        return ok(r);
      }
      if (a.p1 == 0x03) {
        return ok(Bytes{0x00, 0x00, 0xFF});
      }
      return ok({});
    }
    default:
      return status(kSwInsNotSupported);
  }
}

}  // namespace hsmctl::device::sim
