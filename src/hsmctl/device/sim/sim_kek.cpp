// SPDX-License-Identifier: Apache-2.0
// PIN verifiers, session keys, MKEK and DKEK wrapping (sc_hsm.c, kek.c).
#include "hsmctl/device/sim/sim_impl.hpp"

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// The firmware's session_pin: a deterministic per-device hash of the PIN (hash_multi).
Bytes SimCard::Impl::session_key(ByteView pin) const {
  Bytes prefix = str_bytes("hsmctl-sim-session");
  prefix.insert(prefix.end(), state.persistent.serial.begin(), state.persistent.serial.end());
  return crypto::sha256(prefix, pin);
}

Bytes SimCard::Impl::keystream(const char* label, ByteView key, ByteView extra) {
  Bytes input = str_bytes(label);
  input.insert(input.end(), key.begin(), key.end());
  input.insert(input.end(), extra.begin(), extra.end());
  return crypto::sha256(input);
}

Bytes SimCard::Impl::xor_bytes(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  for (std::size_t i = 0; i < out.size() && i < b.size(); ++i) {
    out[i] ^= b[i];
  }
  return out;
}

void SimCard::Impl::set_pin(SimPin& pin, ByteView value) {
  pin.length = static_cast<int>(value.size() & 0xFF);
  pin.salt = crypto::random_bytes(16);
  pin.verifier = verifier(pin.salt, value);
}

bool SimCard::Impl::pin_matches(const SimPin& pin, ByteView value) {
  if (pin.verifier.size() != 32) {
    return false;
  }
  Bytes v = verifier(pin.salt, value);
  unsigned diff = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    diff |= static_cast<unsigned>(v[i] ^ pin.verifier[i]);
  }
  return diff == 0;
}

// kek.c load_mkek(): the user-PIN blob takes precedence; no fallback to the SO blob when it
// fails to unwrap.
MkekResult SimCard::Impl::load_mkek(Bytes& mkek) const {
  const SimVolatile& s = state.session;
  const SimPersistent& p = state.persistent;
  if (!s.has_session_pin && !s.has_session_sopin) {
    return MkekResult::kNoLogin;
  }
  const WrappedMkek* blob = nullptr;
  const Bytes* key = nullptr;
  if (s.has_session_pin && p.mkek_user) {
    blob = &*p.mkek_user;
    key = &s.session_pin_key;
  } else if (s.has_session_sopin && p.mkek_so) {
    blob = &*p.mkek_so;
    key = &s.session_sopin_key;
  }
  if (blob == nullptr) {
    return MkekResult::kError;
  }
  mkek = xor_bytes(blob->wrapped, keystream("mkek", *key));
  Bytes check = crypto::sha256(mkek);
  check.resize(4);
  if (check != blob->check) {
    return MkekResult::kError;
  }
  return MkekResult::kOk;
}

// kek.c store_mkek(): wraps under every session that exists; a random MKEK when none given.
MkekResult SimCard::Impl::store_mkek(const std::optional<Bytes>& mkek_in) {
  SimVolatile& s = state.session;
  if (!s.has_session_pin && !s.has_session_sopin) {
    return MkekResult::kNoLogin;
  }
  Bytes mkek = mkek_in ? *mkek_in : crypto::random_bytes(32);
  Bytes check = crypto::sha256(mkek);
  check.resize(4);
  if (s.has_session_pin) {
    state.persistent.mkek_user =
        WrappedMkek{xor_bytes(mkek, keystream("mkek", s.session_pin_key)), check};
  }
  if (s.has_session_sopin) {
    state.persistent.mkek_so =
        WrappedMkek{xor_bytes(mkek, keystream("mkek", s.session_sopin_key)), check};
  }
  return MkekResult::kOk;
}

Bytes SimCard::Impl::dkek_stream(const Bytes& mkek, int domain) {
  return keystream("dkek", mkek, Bytes{static_cast<std::uint8_t>(domain)});
}

// kek.c save_dkek_key(): wraps the stored accumulator (or `key`) with the MKEK.
MkekResult SimCard::Impl::save_dkek(int domain, const std::optional<Bytes>& key) {
  auto it = state.persistent.dkeks.find(domain);
  if (it == state.persistent.dkeks.end()) {
    return MkekResult::kError;
  }
  Bytes plain = key ? *key : it->second.value;
  if (plain.size() != 32) {
    plain.resize(32, 0);
  }
  Bytes mkek;
  MkekResult r = load_mkek(mkek);
  if (r != MkekResult::kOk) {
    return r;
  }
  it->second.value = xor_bytes(plain, dkek_stream(mkek, domain));
  it->second.wrapped = true;
  return MkekResult::kOk;
}

// kek.c dkek_kcv(): zeros unless the DKEK file exists and the MKEK can be loaded. A value still
// stored as plaintext is "decrypted" anyway, exactly like the firmware, giving a wrong KCV.
Bytes SimCard::Impl::dkek_kcv(int domain) const {
  Bytes kcv(8, 0);
  auto it = state.persistent.dkeks.find(domain);
  if (it == state.persistent.dkeks.end() || it->second.value.size() != 32) {
    return kcv;
  }
  Bytes mkek;
  if (load_mkek(mkek) != MkekResult::kOk) {
    return kcv;
  }
  Bytes plain = xor_bytes(it->second.value, dkek_stream(mkek, domain));
  Bytes h = crypto::sha256(plain);
  std::copy(h.begin(), h.begin() + 8, kcv.begin());
  return kcv;
}

}  // namespace hsmctl::device::sim
