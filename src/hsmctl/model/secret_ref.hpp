// SPDX-License-Identifier: Apache-2.0
#pragma once
// A reference to a secret, as written in a manifest. The reference itself is not secret and may
// be printed ("env:ROOT_CA_PIN"); the value it points to never is.

#include <optional>
#include <string>

namespace hsmctl::model {

struct GenerateSpec {
  enum class Charset { kDigits, kAlphanumeric, kHex };
  Charset charset = Charset::kDigits;
  int length = 8;
};

struct SecretRef {
  enum class Kind {
    kEnv,       ///< env:NAME
    kFile,      ///< file:/path (must be 0600 or stricter)
    kStore,     ///< store:NAME, an entry of the credential store
    kPrompt,    ///< prompt (terminal only)
    kGenerate,  ///< {generate: {...}}: created from a CSPRNG on first apply, kept in the store
  };
  Kind kind = Kind::kEnv;
  /// Variable name, path or store entry name; empty for kPrompt/kGenerate.
  std::string target;
  GenerateSpec generate;

  /// How the reference is written in a manifest, e.g. "env:ROOT_CA_PIN" or "generate".
  std::string display() const;
};

/// Parses "env:NAME", "file:/abs", "store:NAME" or "prompt" as written in a manifest; nullopt
/// for anything else (an inline value is never a reference).
std::optional<SecretRef> parse_secret_reference(const std::string& text);

}  // namespace hsmctl::model
