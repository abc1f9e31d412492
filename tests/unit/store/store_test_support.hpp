// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared helpers for the Store* tests: key sources, the shared TempDir, and the
// secret values the tests use (StoreOutputScan checks that none of them is ever printed).

#include "support/temp_dir.hpp"

#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/key_source.hpp"

#include <memory>
#include <string>
#include <vector>

namespace hsmctl::store::testing {

// Distinctive values, so a scan of output cannot match by accident.
inline constexpr const char* kPassphrase = "correct-horse-Zq81-passphrase";
inline constexpr const char* kOtherPassphrase = "wrong-battery-Xk27-passphrase";
inline constexpr const char* kBackupPassphrase = "backup-staple-Wj55-passphrase";
inline constexpr const char* kPinA = "PinValueA-938271";
inline constexpr const char* kPinB = "PinValueB-615243";
inline constexpr const char* kSoPin = "SoPinValue-C0FFEE42";

inline std::vector<std::string> all_secret_values() {
  return {kPassphrase, kOtherPassphrase, kBackupPassphrase, kPinA, kPinB, kSoPin};
}

inline StoreOptions weak_options() {
  StoreOptions o;
  o.scrypt.log2_n = 10;  // tests only: ~1 ms instead of ~0.4 s
  o.allow_weak_kdf_for_tests = true;
  return o;
}

inline std::shared_ptr<KeySource> passphrase(const char* value) {
  return std::make_shared<FixedKeySource>(KeyMode::kPassphrase, Secret(std::string_view(value)));
}

/// A fresh 0700 directory under TMPDIR, removed with its content at destruction.
using hsmctl::testing::TempDir;

}  // namespace hsmctl::store::testing
