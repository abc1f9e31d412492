// SPDX-License-Identifier: Apache-2.0
#pragma once
// Keyed fingerprints of credentials (HMAC-SHA-256, hex) and the small records built from them.
// They let hsmctl remember "the device rejected this value" or "this setup password was first
// used at T" without storing the value: without the key, a fingerprint cannot be used to test
// guesses. The key is a random value kept in the credential store itself. Shared by the Pico HSM
// engine (apply/) and the Primus engine (primus/).
//
// A record is a store entry whose value is a list of lines "<fingerprint>[ <rest>]".

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::store {

/// HMAC-SHA-256(key, value) as 64 lower-case hex digits.
std::string fingerprint(const Secret& key, const Secret& value);

/// The store entry holding the fingerprint key ("hsmctl/fingerprint-key"). Stores written before
/// the key was shared kept it as "primus/fingerprint-key"; that value is still used.
extern const CredentialKey kFingerprintKeyEntry;

/// The fingerprint key of this store; created (and recorded) on first use when `create`.
Result<std::optional<Secret>> fingerprint_key(CredentialKeeper& keeper, bool create);

/// The name under which records about the entry `key` are appended to the keeper's record log
/// (CredentialKeeper::append_record): a keyed hash, so the log beside the store names no device.
std::string record_stream(const Secret& fingerprint_key, const CredentialKey& key);

/// The lines of a record (empty when the entry does not exist).
Result<std::vector<std::string>> load_lines(CredentialKeeper& keeper, const CredentialKey& key);
/// Replaces the record (recorded as the entry's current value).
Result<void> save_lines(CredentialKeeper& keeper, const CredentialKey& key,
                        const std::vector<std::string>& lines);
/// The rest of the first line whose first field is `fp` ("" when there is none), else nullopt.
std::optional<std::string> lookup(const std::vector<std::string>& lines, const std::string& fp);
/// Appends "<fp> <rest>" unless a line for `fp` exists.
Result<void> remember(CredentialKeeper& keeper, const CredentialKey& key, const std::string& fp,
                      const std::string& rest);

}  // namespace hsmctl::store
