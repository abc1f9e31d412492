// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/fingerprint.hpp"

#include "hsmctl/store/crypto.hpp"

#include <sstream>

namespace hsmctl::store {

const CredentialKey kFingerprintKeyEntry{"hsmctl", "fingerprint-key"};

namespace {
const CredentialKey kLegacyFingerprintKeyEntry{"primus", "fingerprint-key"};
}  // namespace

std::string fingerprint(const Secret& key, const Secret& value) {
  // HMAC (RFC 2104) over SHA-256.
  Bytes k(key.bytes().begin(), key.bytes().end());
  if (k.size() > 64)
    k = crypto::sha256(k);
  k.resize(64, 0);
  Bytes inner(64), outer(64);
  for (int i = 0; i < 64; ++i) {
    inner[i] = k[i] ^ 0x36;
    outer[i] = k[i] ^ 0x5c;
  }
  inner.insert(inner.end(), value.bytes().begin(), value.bytes().end());
  Bytes ih = crypto::sha256(inner);
  outer.insert(outer.end(), ih.begin(), ih.end());
  Bytes mac = crypto::sha256(outer);
  secure_wipe(k.data(), k.size());
  secure_wipe(inner.data(), inner.size());
  secure_wipe(outer.data(), outer.size());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (auto b : mac) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string record_stream(const Secret& fingerprint_key, const CredentialKey& key) {
  return "r-" + fingerprint(fingerprint_key, Secret("record-stream " + key.id())).substr(0, 32);
}

Result<std::optional<Secret>> fingerprint_key(CredentialKeeper& keeper, bool create) {
  HSMCTL_TRY_ASSIGN(auto k, keeper.current(kFingerprintKeyEntry));
  if (k)
    return k;
  HSMCTL_TRY_ASSIGN(auto legacy, keeper.current(kLegacyFingerprintKeyEntry));
  if (legacy || !create)
    return legacy;
  HSMCTL_TRY_ASSIGN(Bytes raw, crypto::random_bytes(32));
  std::string hex = to_hex(raw);
  Secret fresh{std::string_view(hex)};
  secure_wipe(raw.data(), raw.size());
  secure_wipe(hex.data(), hex.size());
  HSMCTL_TRY(keeper.record_current(kFingerprintKeyEntry, fresh));
  return std::optional<Secret>(std::move(fresh));
}

Result<std::vector<std::string>> load_lines(CredentialKeeper& keeper, const CredentialKey& key) {
  HSMCTL_TRY_ASSIGN(auto v, keeper.current(key));
  std::vector<std::string> out;
  if (!v)
    return out;
  std::istringstream in{std::string(v->view())};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty())
      out.push_back(line);
  }
  return out;
}

Result<void> save_lines(CredentialKeeper& keeper, const CredentialKey& key,
                        const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines)
    text += l + "\n";
  return keeper.record_current(key, Secret(std::string_view(text)));
}

std::optional<std::string> lookup(const std::vector<std::string>& lines, const std::string& fp) {
  for (const auto& l : lines) {
    const auto sp = l.find(' ');
    if (l.substr(0, sp) == fp)
      return sp == std::string::npos ? "" : l.substr(sp + 1);
  }
  return std::nullopt;
}

Result<void> remember(CredentialKeeper& keeper, const CredentialKey& key, const std::string& fp,
                      const std::string& rest) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(keeper, key));
  if (lookup(lines, fp))
    return {};
  lines.push_back(rest.empty() ? fp : fp + " " + rest);
  return save_lines(keeper, key, lines);
}

}  // namespace hsmctl::store
