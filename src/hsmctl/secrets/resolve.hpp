// SPDX-License-Identifier: Apache-2.0
#pragma once
// Turns manifest secret references into values, and checks PIN formats. Values never appear in
// errors: messages name the reference ("env:ROOT_CA_PIN"), not what it holds.

#include "hsmctl/model/secret_ref.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace hsmctl::secrets {

/// Largest `file:` secret read (a PIN or password is a few bytes; this only bounds a mistake).
inline constexpr std::size_t kMaxSecretFileBytes = 4096;

struct Resolved {
  /// The value; unset only for a `generate` reference whose value does not exist yet.
  std::optional<Secret> value;
  /// A generate reference with no stored value: apply creates one (see generate()).
  bool to_generate = false;
};

/// Resolves `ref` for the manifest field `field` ("spec.userPin").
/// - env:NAME   the variable must be set and non-empty;
/// - file:PATH  a regular file (not a symlink, FIFO or device; checked on the opened descriptor),
///              mode 0600 or stricter, at most kMaxSecretFileBytes; one trailing newline is
///              dropped;
/// - store:NAME the store entry NAME must exist;
/// - prompt     asks twice on the controlling terminal (/dev/tty, not stdin) without echo,
///              naming `field` and `context` (`manifest "root-ca" (root-ca.yaml:7:13)`); an
///              error when there is no terminal;
/// - generate   the value kept in the store under `generated_key`, else to_generate.
/// Any value holding a control character (below 0x20, or 0x7f) is refused: check_printable().
Result<Resolved> resolve(const model::SecretRef& ref, const std::string& field,
                         store::CredentialKeeper& keeper, const store::CredentialKey& generated_key,
                         const std::string& context = {});

/// Refuses a value with a control character (bytes 0x00..0x1f and 0x7f: a pasted CR, a NUL, an
/// escape sequence). The message gives the character position, never the value.
Result<void> check_printable(const Secret& value, const std::string& field);

/// A fresh value from the OpenSSL CSPRNG, per the spec (digits, alphanumeric or hex).
Result<Secret> generate(const model::GenerateSpec& spec);

/// SO PIN as sent to the device: exactly 8 bytes, given as 16 hex digits or 8 characters (no
/// control characters).
Result<Secret> normalize_so_pin(const Secret& value, const std::string& field);

/// User PIN rules: 6..15 characters, no control characters; a 6-character PIN allows at most 3
/// retries and a 7-character PIN at most 5 (SmartCard-HSM parity).
Result<void> check_user_pin(const Secret& value, int pin_retries, const std::string& field);

}  // namespace hsmctl::secrets
