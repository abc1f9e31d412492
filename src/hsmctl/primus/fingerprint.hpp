// SPDX-License-Identifier: Apache-2.0
#pragma once
// Keyed fingerprints of credentials (HMAC-SHA-256, hex). They let hsmctl remember "this setup
// password was rejected" or "first used at T" without storing the value: without the key, a
// fingerprint cannot be used to test guesses. The key lives in the credential store.

#include <string>

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/secret.hpp"

namespace hsmctl::primus {

/// SHA-256 of `data` (32 bytes).
Bytes sha256(ByteView data);

/// HMAC-SHA-256(key, value) as 64 lower-case hex digits.
std::string fingerprint(const Secret& key, const Secret& value);

}  // namespace hsmctl::primus
