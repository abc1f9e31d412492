// SPDX-License-Identifier: Apache-2.0
// VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER (cmd_verify.c, cmd_change_pin.c,
// cmd_reset_retry.c) and the firmware's check_pin().
#include "hsmctl/device/sim/sim_impl.hpp"

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// sc_hsm.c check_pin(): drops every session first; a wrong value costs a try.
std::uint16_t SimCard::Impl::check_pin(bool so, ByteView value) {
  SimPin& pin = so ? state.persistent.so : state.persistent.user;
  SimVolatile& s = state.session;
  bool pka = state.pka_enabled();
  if (!pka) {
    s.user_authenticated = false;
  }
  s.has_session_pin = s.has_session_sopin = false;
  s.session_pin_key.clear();
  s.session_sopin_key.clear();
  if (pin.length == 0 || !pin_matches(pin, value)) {
    if (pin.retries > 0) {
      pin.retries -= 1;
      if (pin.retries == 0) {
        return kSwBlocked;
      }
      return static_cast<std::uint16_t>(0x63C0 | (pin.retries & 0xFF));
    }
    return kSwBlocked;
  }
  if (pin.retries == 0) {
    return kSwBlocked;
  }
  pin.retries = pin.max_retries;
  // [Pico] the SO-PIN is a full login; [SC-HSM] it authenticates nothing but the command that
  // carries it (CHANGE 88, RESET RETRY COUNTER), so the user is not authenticated by it.
  if (!pka && !(so && smartcard_hsm())) {
    s.user_authenticated = true;
  }
  if (so) {
    s.session_sopin_key = session_key(value);
    s.has_session_sopin = true;
  } else {
    s.session_pin_key = session_key(value);
    s.has_session_pin = true;
  }
  if (s.pending_save_dkek) {
    save_dkek(*s.pending_save_dkek, std::nullopt);
    s.pending_save_dkek.reset();
  }
  return kSwOk;
}

// cmd_verify.c
Reply SimCard::Impl::cmd_verify(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  if (a.p1 != 0x00 || (a.p2 & 0x60) != 0) {
    return status(kSwWrongP1P2);
  }
  if (a.p2 == 0x81) {
    if ((state.options() & kOptTransportPin) && !(smartcard_hsm() && p.transport_pin_left)) {
      return status(kSwDataInvalid);
    }
    if (s.has_session_pin && a.data.empty()) {
      return status(kSwOk);
    }
    if (p.user.length == 0 && !state.pka_enabled()) {
      return status(kSwRefNotFound);
    }
    if (!a.data.empty()) {
      return status(check_pin(false, a.data));
    }
    if (p.user.retries == 0) {
      return status(kSwBlocked);
    }
    return status(static_cast<std::uint16_t>(0x63C0 | p.user.retries));
  }
  if (a.p2 == 0x88) {
    if (!a.data.empty() && smartcard_hsm()) {
      // [SC-HSM] the SO-PIN cannot log in (CardContact, OpenSC #1318): refused, no try spent,
      // sessions kept. Counted so tests can prove it was never sent. The SW is UNCONFIRMED.
      p.so_verify_attempts += 1;
      return status(kSwSecurity);
    }
    if (p.so.length == 0) {
      return status(kSwRefNotFound);
    }
    if (!a.data.empty()) {
      return status(check_pin(true, a.data));
    }
    if (p.so.retries == 0) {
      return status(kSwBlocked);
    }
    if (s.has_session_sopin) {
      return status(kSwOk);
    }
    return status(static_cast<std::uint16_t>(0x63C0 | p.so.retries));
  }
  return status(kSwRefNotFound);
}

// cmd_change_pin.c
Reply SimCard::Impl::cmd_change_pin(const Apdu& a) {
  if (a.p1 != 0x00 || (a.p2 != 0x81 && a.p2 != 0x88)) {
    return status(kSwWrongP1P2);
  }
  bool so = a.p2 == 0x88;
  SimPin& pin = so ? state.persistent.so : state.persistent.user;
  std::size_t old_len = static_cast<std::size_t>(pin.length);
  if (a.data.size() <= old_len || a.data.size() - old_len > 16) {
    return status(kSwWrongLength);
  }
  std::uint16_t r = check_pin(so, ByteView(a.data).first(old_len));
  if (r != kSwOk) {
    return status(r);
  }
  Bytes mkek;
  if (load_mkek(mkek) != MkekResult::kOk) {
    return status(kSwExecError);
  }
  ByteView new_pin = ByteView(a.data).subspan(old_len);
  SimVolatile& s = state.session;
  if (so) {
    s.session_sopin_key = session_key(new_pin);
    s.has_session_sopin = true;
  } else {
    s.session_pin_key = session_key(new_pin);
    s.has_session_pin = true;
  }
  if (store_mkek(mkek) != MkekResult::kOk) {
    return status(kSwExecError);
  }
  set_pin(pin, new_pin);
  if (!so && smartcard_hsm()) {
    state.persistent.transport_pin_left = true;  // [SC-HSM] CHANGE leaves the transport state
  }
  return status(kSwOk);
}

// cmd_reset_retry.c
Reply SimCard::Impl::cmd_reset_retry(const Apdu& a) {
  const SimPersistent& p = state.persistent;
  if (a.p2 != 0x81) {
    return status(kSwRefNotFound);
  }
  if (p.so.length == 0) {
    return status(kSwRefNotFound);
  }
  if (!(state.options() & kOptRrc)) {
    return status(kSwNotAllowed);
  }
  if (smartcard_hsm()) {
    // P1 02/03 (no SO-PIN in the data, under an SO session) are Pico extensions. Option 0x0020
    // means "RESET RETRY COUNTER only resets the counter": no new PIN (P1 00) then. The 6986
    // for P1 00 is UNCONFIRMED.
    if (a.p1 == 0x00 && (state.options() & kOptRrcResetOnly)) {
      return status(kSwNotAllowed);
    }
    if (a.p1 != 0x00 && a.p1 != 0x01) {
      return status(kSwIncorrectP1P2);
    }
  }
  if (a.p1 == 0x00 || a.p1 == 0x02) {
    return reset_retry_set_pin(a);
  }
  if (a.p1 == 0x01 || a.p1 == 0x03) {
    return reset_retry_counter_only(a);
  }
  return status(kSwIncorrectP1P2);
}

// P1 00: SO-PIN (stored length) || new PIN (>= 2 bytes); P1 02: new PIN only, under an SO session
// from a prior VERIFY 88 (Pico extension). Sets the PIN, resets its counter, re-wraps the MKEK
// and opens a user session.
Reply SimCard::Impl::reset_retry_set_pin(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  std::size_t so_len = static_cast<std::size_t>(p.so.length);
  ByteView new_pin;
  if (a.p1 == 0x00) {
    if (a.data.size() <= so_len + 1) {
      return status(kSwWrongLength);
    }
    std::uint16_t r = check_pin(true, ByteView(a.data).first(so_len));
    if (r != kSwOk) {
      return status(r);
    }
    new_pin = ByteView(a.data).subspan(so_len);
  } else {
    if (!s.has_session_sopin) {
      return status(kSwConditions);
    }
    if (a.data.size() > 16) {
      return status(kSwWrongLength);
    }
    new_pin = a.data;
  }
  set_pin(p.user, new_pin);
  p.user.retries = p.user.max_retries;
  Bytes mkek;
  if (load_mkek(mkek) != MkekResult::kOk) {
    return status(kSwExecError);
  }
  s.session_pin_key = session_key(new_pin);
  s.has_session_pin = true;
  if (store_mkek(mkek) != MkekResult::kOk) {
    return status(kSwExecError);
  }
  return status(kSwOk);
}

// P1 01: SO-PIN only (exactly the stored length); P1 03: nothing, under an SO session. Both need
// option 0x0020 and only reset the user PIN's counter.
Reply SimCard::Impl::reset_retry_counter_only(const Apdu& a) {
  SimPersistent& p = state.persistent;
  if (!(state.options() & kOptRrcResetOnly)) {
    return status(kSwNotAllowed);
  }
  if (a.p1 == 0x01) {
    if (a.data.size() != static_cast<std::size_t>(p.so.length)) {
      return status(kSwWrongLength);
    }
    std::uint16_t r = check_pin(true, a.data);
    if (r != kSwOk) {
      return status(r);
    }
  } else {
    if (!state.session.has_session_sopin) {
      return status(kSwConditions);
    }
    if (!a.data.empty()) {
      return status(kSwWrongLength);
    }
  }
  p.user.retries = p.user.max_retries;
  return status(kSwOk);
}

}  // namespace hsmctl::device::sim
