// SPDX-License-Identifier: Apache-2.0
#pragma once
// Typed desired state of one Pico HSM (kind PicoHSM), produced by manifest/ from a validated
// document. Every field has the default documented in docs/manifest.md; the plan enforces it.

#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/secret_ref.hpp"
#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/cvc.hpp"
#include "hsmctl/util/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::model {

/// How a manifest names its device. Exactly one of the two is set.
/// spec.device.attestation (docs/manifest.md): what the device certificate (EF 2F02) must show
/// before hsmctl sends the device any credential.
struct DeviceAttestation {
  std::string trust_file;               ///< absolute path; empty: no trust anchors
  std::vector<cvc::Certificate> trust;  ///< the trust file's certificates, read at load
  std::string fingerprint;              ///< 64 lower-case hex digits; empty: not pinned
};

struct DeviceSelector {
  std::string serial;  ///< 16 upper-case hex digits (8-byte chip ID), normalised
  std::string reader;  ///< reader-name substring
  std::optional<DeviceAttestation> attestation;
};

struct ResetRetryCounter {
  bool enabled = true;               ///< option bit 0x0001
  bool only_resets_counter = false;  ///< option bit 0x0020
};

/// One custodian's public key for PKA: a file `sc-hsm-tool --export-for-pub-key-auth` wrote,
/// read and parsed when the manifest is loaded (public data, no secret).
struct PkaKeyFile {
  std::string file;      ///< absolute; a relative path is resolved against the manifest's directory
  std::string field;     ///< "spec.publicKeyAuth.keys[0]": where it is written, for messages
  Bytes chr;             ///< the key's certificate holder reference (its name on the device)
  std::string chr_text;  ///< printable form of chr
  Bytes request;         ///< what INS 54 registers (the content of the request's tag 67)
};

struct PublicKeyAuth {
  int keys = 1;                    ///< tag 93 byte 0, 1..8
  int required = 1;                ///< tag 93 byte 1, 1..keys
  bool replaceable = false;        ///< option bit 0x0008
  bool combined_with_pin = false;  ///< option bit 0x0010
  /// `keys` given as a list of files: the keys to register (at most `keys`); empty with the
  /// integer form (count only: registration is left to the custodians).
  std::vector<PkaKeyFile> key_files{};
};

/// One custodian's DKEK share file (sc-hsm-tool --create-dkek-share format) and its password.
struct DkekShareFile {
  std::string file;    ///< absolute; a manifest's relative path is resolved against its directory
  SecretRef password;  ///< never kGenerate; unused when password_parts is given
  std::string field;   ///< "spec.dkek.shares[0]": where it is written, for messages
  /// `passwordShares`: the password split n-of-m as sc-hsm-tool --pwd-shares-threshold/-total
  /// does it; each reference holds one custodian's part as "PRIME/ID/VALUE"
  /// (secrets/password_shares.hpp). Empty: the file has a plain `password`.
  std::vector<SecretRef> password_parts;
  int password_threshold = 0;  ///< with password_parts: parts.size() >= it
};

/// The share files of one DKEK, which apply imports (issue 11).
struct DkekImport {
  std::vector<DkekShareFile> shares;
  /// The KCV recorded at the ceremony: 16 upper-case hex digits; empty = not given.
  std::string expected_kcv;
};

struct KeyDomain {
  KeyDomain() = default;
  explicit KeyDomain(std::optional<int> shares) : dkek_shares(shares) {}

  /// Shares of this domain's DKEK; nullopt leaves the domain "not set up".
  std::optional<int> dkek_shares;
  /// The share files to import into it (as many as dkek_shares).
  std::optional<DkekImport> dkek;
};

struct PicoOptions {
  bool press_to_confirm = false;   ///< 0x0100 (DYNOPS, in place)
  bool key_usage_counter = false;  ///< 0x0200 (DYNOPS, in place)
  /// 0x0400, secure lock: compared, never changed (the plan says why and what to run).
  std::optional<bool> secure_lock;
};

/// Operator acknowledgements for options hsmctl otherwise refuses.
struct Acknowledgements {
  bool transport_pin_lockout = false;  ///< accept that transport PIN never clears on Pico
};

struct PicoHsmSpec {
  DeviceSelector device;
  std::optional<SecretRef> user_pin;
  std::optional<SecretRef> so_pin;
  int pin_retries = kDefaultPinRetries;
  ResetRetryCounter reset_retry_counter;
  bool transport_pin = false;
  std::optional<int> dkek_shares;      ///< only without key domains; 0 = random DKEK
  std::optional<DkekImport> dkek;      ///< only without key domains: domain 0's share files
  std::vector<KeyDomain> key_domains;  ///< empty = no key domains (tag 97 absent)
  std::optional<PublicKeyAuth> public_key_auth;
  PicoOptions options;
  Acknowledgements acknowledge;

  /// The low options byte INITIALIZE would write (bits 0x01, 0x02, 0x08, 0x10, 0x20).
  std::uint16_t init_options() const;
  /// The high options byte DYNOPS would write (0x0100, 0x0200); secure lock is not managed.
  std::uint16_t dynamic_options() const;
  /// The share files to import into domain `index` (spec.dkek for domain 0 without key
  /// domains); nullptr when the manifest names none.
  const DkekImport* dkek_import(int index) const;
};

struct Metadata {
  std::string name;
  std::map<std::string, std::string> labels;
};

/// One PicoHSM document of a manifest file.
struct PicoHsmManifest {
  Metadata metadata;
  PicoHsmSpec spec;
  /// Where the document starts (file, line of its first key).
  SourcePos origin;
  /// Dotted spec path ("spec.pinRetries") to the position of its value, for plan messages.
  std::map<std::string, SourcePos> positions;

  /// The position of `path` or, failing that, of the document.
  SourcePos position_of(const std::string& path) const;
};

}  // namespace hsmctl::model
