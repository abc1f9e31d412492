// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the key material that unlocks an encrypted store comes from. The store file's header
// says which mode protects it; the store asks its KeySource for material in that mode.

#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <string>

namespace hsmctl::store {

/// How a store file is protected (recorded in the header as the KDF id).
enum class KeyMode {
  kPassphrase,  ///< scrypt over a passphrase (header kdf_id 1)
  kKeyFile,     ///< a random 32-byte key kept in a 0600 file, no KDF (header kdf_id 3)
};

const char* key_mode_name(KeyMode mode);

class KeySource {
 public:
  virtual ~KeySource() = default;
  /// Key material for `mode`: a passphrase, or the 32 bytes of a key file. `creating` is true
  /// when a new store (or a new passphrase) is being set up: a prompt then asks twice and a
  /// missing key file is created. Errc::kStore with a message naming the unlock options when
  /// no material is available (never containing the material).
  virtual Result<Secret> material(KeyMode mode, bool creating) = 0;
};

/// A fixed value for one mode (tests, `store passwd`, backups). Asking for the other mode is an
/// Errc::kStore error that says which mode the file needs.
class FixedKeySource final : public KeySource {
 public:
  FixedKeySource(KeyMode mode, Secret value) : mode_(mode), value_(std::move(value)) {}
  Result<Secret> material(KeyMode mode, bool creating) override;

 private:
  KeyMode mode_;
  Secret value_;
};

}  // namespace hsmctl::store
