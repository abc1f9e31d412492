// SPDX-License-Identifier: Apache-2.0
// INITIALIZE DEVICE (cmd_initialize.c) and the flash wipe it starts with.
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

#include <algorithm>

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// The non-persistent part of flash as the firmware truncates it (file_initialize_flash +
// scan_files): PIN files back to "not initialized" with default counters.
void SimCard::Impl::wipe() {
  SimPersistent& p = state.persistent;
  p.user = SimPin{};
  p.so = SimPin{0, {}, {}, 15, 15};
  p.key_domains.clear();
  p.dkeks.clear();
  p.pka.reset();
  p.puk_slots.clear();
  for (auto it = p.keys.begin(); it != p.keys.end();) {
    it = it->first == 0 ? std::next(it) : p.keys.erase(it);
  }
  for (auto it = p.files.begin(); it != p.files.end();) {
    it = persistent_file(it->first) ? std::next(it) : p.files.erase(it);
  }
  p.transport_pin_left = false;
  state.session.pending_save_dkek.reset();
}

// cmd_initialize.c
Reply SimCard::Impl::cmd_initialize(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  if (a.data.empty()) {  // free memory and version
    return ok(Bytes{static_cast<std::uint8_t>(kFreeMemory >> 24),
                    static_cast<std::uint8_t>(kFreeMemory >> 16),
                    static_cast<std::uint8_t>(kFreeMemory >> 8),
                    static_cast<std::uint8_t>(kFreeMemory), 0x00, kFirmwareMajor, kFirmwareMinor});
  }
  if ((state.options() & kOptSecureLock) && !s.secure_lock_unlocked) {
    return status(kSwSecurity);
  }
  if (smartcard_hsm() && p.so.length != 0) {
    if (std::uint16_t refused = check_initialization_code(a.data); refused != kSwOk) {
      return status(refused);  // nothing wiped
    }
  }
  Bytes mkek;
  MkekResult ret_mkek = load_mkek(mkek);  // with whatever session exists now
  wipe();
  s.has_session_pin = s.has_session_sopin = false;
  s.session_pin_key.clear();
  s.session_sopin_key.clear();
  s.secure_lock_unlocked = false;
  const InitializeLayout layout = apply_initialize_tags(a.data);
  if (ret_mkek != MkekResult::kOk) {
    ret_mkek = load_mkek(mkek);  // retry with the new PIN/SO-PIN, in case one is unchanged
  }
  if (store_mkek(ret_mkek == MkekResult::kOk ? std::optional<Bytes>(mkek) : std::nullopt) !=
      MkekResult::kOk) {
    return status(kSwExecError);
  }
  if (!build_key_domain_table(layout)) {
    return status(kSwExecError);
  }
  s.user_authenticated = true;
  // [SC-HSM] the production device key and certificate are never replaced (only created if the
  // state has none); [Pico] they are unless the MKEK was recovered.
  bool missing =
      p.keys.count(0) == 0 || p.files.count(kFidTermCa) == 0 || p.files.at(kFidTermCa).empty();
  bool recreate = missing || (!smartcard_hsm() && ret_mkek != MkekResult::kOk);
  if (recreate) {
    if (!create_device_identity()) {
      return status(kSwExecError);
    }
    // v6.6 defect: the certificate step failed when a new device name had to be made.
    if (!smartcard_hsm() && p.defects.initialize_6400_first_attempt) {
      return status(kSwExecError);
    }
  }
  s.puk_status.fill(0);
  return status(kSwOk);
}

// [SC-HSM] re-initialization needs the current SO-PIN ("initialization code") in tag 82
// (pico-hsm.md section 3): blocked -> 6983; absent or wrong -> kSwWrongInitCode, and a wrong one
// spends an SO try (15, never restored). kSwOk when it matches; nothing is wiped otherwise.
std::uint16_t SimCard::Impl::check_initialization_code(ByteView data) {
  SimPin& so = state.persistent.so;
  if (so.retries == 0) {
    return kSwBlocked;
  }
  auto code = tlv::find(data, 0x82);
  if (!code) {
    return kSwWrongInitCode;  // assumption: nothing to compare, no try spent
  }
  if (!pin_matches(so, *code)) {
    so.retries -= 1;
    return kSwWrongInitCode;
  }
  return kSwOk;
}

// The TLVs of INITIALIZE after the wipe: 80 options (both bytes, verbatim; absent = kept), 81
// user PIN and 82 SO-PIN (each opens its session), 91 user retries, 92 DKEK shares (creates the
// empty DKEK file of domain 0), 93 PKA (total clamped to 8), 97 key domains. Unknown tags are
// ignored.
InitializeLayout SimCard::Impl::apply_initialize_tags(ByteView data) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  InitializeLayout layout;
  for (const auto& item : tlv::parse(data)) {
    ByteView v = item.value;
    switch (item.tag) {
      case 0x80:  // options: both bytes, verbatim
        if (v.empty()) {
          p.options.reset();
        } else {
          p.options = static_cast<std::uint16_t>((v[0] << 8) | (v.size() > 1 ? v[1] : 0));
          if (smartcard_hsm()) {
            *p.options &= 0x00FF;  // no high (Pico dynamic) options byte on a SmartCard-HSM
          }
        }
        break;
      case 0x81:
        set_pin(p.user, v);
        s.session_pin_key = session_key(v);
        s.has_session_pin = true;
        break;
      case 0x82:
        set_pin(p.so, v);
        s.session_sopin_key = session_key(v);
        s.has_session_sopin = true;
        break;
      case 0x91:
        if (!v.empty()) {
          p.user.retries = p.user.max_retries = v[0];
        }
        break;
      case 0x92:
        layout.dkeks = v.empty() ? 0 : v[0];
        p.dkeks[0] = SimDkek{};  // empty DKEK file for domain 0
        break;
      case 0x93: {
        std::uint8_t total = std::min<std::uint8_t>(v.empty() ? 0 : v[0], 8);
        std::uint8_t required = v.size() > 1 ? v[1] : 0;
        p.pka = std::array<std::uint8_t, 4>{total, total, required, 0};
        p.puk_slots.assign(total, Bytes{});
        break;
      }
      case 0x97:
        layout.key_domains = v.empty() ? 0 : v[0];
        break;
      default:
        break;  // unknown tags are ignored
    }
  }
  return layout;
}

// The key-domain table (EF 0x10A0) INITIALIZE leaves: no tag 92 -> one no-DKEK entry 00 00; tag
// 92 = 00 -> a random DKEK, 01 01; 92 = n -> n 00; tag 97 = k overrides all of it with k entries
// FF FF (clamped to 16). False when the random DKEK could not be wrapped.
bool SimCard::Impl::build_key_domain_table(const InitializeLayout& layout) {
  SimPersistent& p = state.persistent;
  if (layout.dkeks) {
    if (*layout.dkeks > 0) {
      p.key_domains = {{*layout.dkeks, 0}};
    } else {
      if (save_dkek(0, crypto::random_bytes(32)) != MkekResult::kOk) {
        return false;
      }
      p.key_domains = {{1, 1}};
    }
  } else {
    p.key_domains = {{0, 0}};
  }
  if (layout.key_domains) {
    p.key_domains.assign(std::min<std::uint8_t>(*layout.key_domains, 16), {0xFF, 0xFF});
  }
  return true;
}

}  // namespace hsmctl::device::sim
