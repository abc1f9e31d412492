// SPDX-License-Identifier: Apache-2.0
// Key domains and DKEK shares, INS 52 (cmd_key_domain.c).
#include "hsmctl/device/sim/sim_impl.hpp"

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// cmd_key_domain.c
Reply SimCard::Impl::cmd_key_domain(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  std::uint8_t p1 = a.p1, p2 = a.p2;
  if ((!s.has_session_pin || !s.user_authenticated) && !a.data.empty() &&
      (p1 != 0x00 || p2 != 0x00)) {
    return status(kSwConditions);
  }
  if (p2 >= 16) {
    return status(kSwWrongP1P2);
  }
  if (p.key_domains.empty()) {
    return status(kSwWrongP1P2);
  }
  // The firmware reads past the table for P2 beyond the configured count in every branch but
  // the status query; the simulator answers 6A86 for all of them.
  if (p2 >= p.key_domains.size()) {
    return status(kSwIncorrectP1P2);
  }
  switch (p1) {
    case 0x00:
      if (!a.data.empty()) {
        return import_dkek_share(a);
      }
      if (p.key_domains[p2].second == 0xFF) {  // not set up (and no XKEK: not emulated)
        return status(kSwRefNotFound);
      }
      // [SC-HSM] a domain without a DKEK (no tag 92, or set up with 0 shares) is "data object
      // not found" (OpenSC #2647); the Pico answers 9000 00 00 and a zero KCV.
      if (smartcard_hsm() && p.key_domains[p2] == std::pair<std::uint8_t, std::uint8_t>{0, 0}) {
        return status(kSwRefNotFound);
      }
      return key_domain_status(p2);
    case 0x01:
    case 0x03:
    case 0x04:
      return change_key_domain(a);
    case 0x02:
      // XKEK domain creation needs a CV request signed under the device PKI; not emulated,
      // so any request fails verification like a bad signature does.
      if (!a.data.empty()) {
        return status(kSwConditions);
      }
      return key_domain_status(p2);
    default:
      return status(kSwIncorrectP1P2);
  }
}

// P1 00 with data (kek.c import_dkek_share()): XOR of the first 32 bytes into the accumulator;
// the last share wraps it under the MKEK, or leaves the wrap pending until the next VERIFY when
// no PIN/SO session exists.
Reply SimCard::Impl::import_dkek_share(const Apdu& a) {
  SimPersistent& p = state.persistent;
  std::uint8_t p2 = a.p2;
  auto& entry = p.key_domains[p2];
  std::uint8_t dkeks = entry.first, current = entry.second;
  if (a.data.size() < 32) {
    return status(kSwWrongLength);
  }
  if (current == dkeks) {
    return status(kSwNotAllowed);
  }
  SimDkek& file = p.dkeks[p2];  // file_new(EF_DKEK + p2)
  Bytes acc = file.value.size() == 32 ? file.value : Bytes(32, 0);
  for (std::size_t i = 0; i < 32; ++i) {
    acc[i] ^= a.data[i];
  }
  file.value = acc;
  file.wrapped = false;
  if (++current >= dkeks) {
    MkekResult r = save_dkek(p2, std::nullopt);
    if (r == MkekResult::kNoLogin) {
      state.session.pending_save_dkek = p2;
    } else if (r != MkekResult::kOk) {
      for (std::size_t i = 0; i < 32; ++i) {
        file.value[i] ^= a.data[i];
      }
      return status(kSwFileNotFound);
    }
  }
  entry.second = current;
  return key_domain_status(p2);
}

// P1 01 set up (1 byte: number of shares; only a domain FF FF), 03 delete (refused while a key
// carries the domain; success answers 6A88 by design), 04 clear (imported count back to 0).
// Each drops the domain's DKEK file.
Reply SimCard::Impl::change_key_domain(const Apdu& a) {
  SimPersistent& p = state.persistent;
  SimVolatile& s = state.session;
  std::uint8_t p1 = a.p1, p2 = a.p2;
  auto& entry = p.key_domains[p2];
  if (p1 == 0x01 && a.data.size() != 1) {
    return status(kSwWrongLength);
  }
  if (p1 == 0x03) {
    for (const auto& [id, key] : p.keys) {
      if (id != 0 && key.domain == p2) {
        return status(kSwFileExists);
      }
    }
  }
  if (p1 == 0x01) {
    if (entry.first != 0xFF || entry.second != 0xFF) {
      return status(kSwIncorrectP1P2);
    }
    entry = {a.data[0], 0};
  } else if (p1 == 0x03) {
    if (entry.first == 0xFF && entry.second == 0xFF) {
      return status(kSwIncorrectP1P2);
    }
    entry = {0xFF, 0xFF};
  } else {
    entry.second = 0;
  }
  p.dkeks.erase(p2);
  if (s.pending_save_dkek == p2) {
    s.pending_save_dkek.reset();
  }
  if (p1 == 0x03) {
    return status(kSwRefNotFound);
  }
  return key_domain_status(p2);
}

// The answer of every INS 52 command that succeeds: total, outstanding, KCV (8 bytes).
Reply SimCard::Impl::key_domain_status(std::uint8_t domain) const {
  const auto& entry = state.persistent.key_domains[domain];
  std::uint8_t dkeks = entry.first, current = entry.second;
  Bytes r{dkeks, static_cast<std::uint8_t>(dkeks > current ? dkeks - current : 0)};
  Bytes kcv = dkek_kcv(domain);
  r.insert(r.end(), kcv.begin(), kcv.end());
  return ok(r);
}

}  // namespace hsmctl::device::sim
