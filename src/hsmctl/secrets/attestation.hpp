// SPDX-License-Identifier: Apache-2.0
#pragma once
// Device attestation: verifies the CV certificate chain of a device certificate file (EF 2F02)
// offline with OpenSSL, against optional trust anchors and an optional pinned key fingerprint
// (docs/manifest.md "device.attestation", docs/ceremonies.md "Device attestation").

#include "hsmctl/model/device_certificate.hpp"
#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/cvc.hpp"
#include "hsmctl/util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::secrets {

/// The fingerprint of a CV public key: SHA-256 over the uncompressed point (the value of tag 86,
/// 04 || X || Y, nothing else), 64 lower-case hex digits.
std::string key_fingerprint(const cvc::PublicKey& key);

/// The device certificate of a certificate file's elements (parse_elements of EF 2F02): the
/// first certificate (7F21) that is not a request's inner one, with its key's fingerprint. Unset
/// when the file holds none (only requests, or nothing).
std::optional<model::DeviceCertificateInfo> describe_device_certificate(
    const std::vector<cvc::Element>& elements);

/// OpenSSL's name of the curve of `key` ("secp256k1", "prime256v1", ...): the named curve whose
/// prime equals the key's domain parameter p when it carries them, else the first named curve of
/// the point's size on which the point lies (P-256, secp256k1, brainpoolP256r1, P-384,
/// brainpoolP384r1, P-521, brainpoolP512r1). Empty when none fits.
std::string curve_of(const cvc::PublicKey& key);

/// ECDSA over SHA-256 of `message` with `signature` as plain r || s, by `signer`.
bool verify_signature(const cvc::PublicKey& signer, ByteView message, ByteView signature);

/// What a manifest's device.attestation asks.
struct AttestationPolicy {
  /// Trust anchors (CV certificates); empty: no trust file.
  std::vector<cvc::Certificate> trust;
  /// Where the anchors came from, for messages ("roots.cvc").
  std::string trust_source;
  /// Pinned device key fingerprint (key_fingerprint form); empty: not pinned.
  std::string fingerprint;
};

/// The outcome of checking a device's certificate file.
struct AttestationResult {
  bool ok = false;
  /// When !ok: which certificate and what failed, one line ("certificate ESPICOHSMTR00001
  /// (issuer ESPICOHSMDV00001): signature does not verify with the issuer's key").
  std::string failure;
  /// When ok: how far trust reaches ("chain ends at trust anchor X", "self-signed, key pinned").
  std::string summary;
};

/// Checks `elements` (parse_elements of EF 2F02): the device certificate is the first certificate
/// (7F21) in the file; its key's fingerprint must equal `policy.fingerprint` when set; each
/// certificate from it up the chain (issuer found by CAR == CHR, among the anchors first, then
/// in the file) must be valid on `today` (5F25 <= today <= 5F24, when present) and its signature
/// over its body (7F4E) must verify with the issuer's key (a self-signed one with its own key);
/// with anchors the chain must reach one (an anchor matches by CHR and key: a certificate of the
/// chain with an anchor's CHR and another key fails); without anchors an issuer missing from the
/// file ends the chain unverified (allowed: the fingerprint is the pin). An authenticated
/// request (67, v6.6) must be self-signed by the device key and its outer signature made by it.
AttestationResult check_attestation(const std::vector<cvc::Element>& elements,
                                    const AttestationPolicy& policy, const cvc::Date& today);

/// Today's date in UTC.
cvc::Date today_utc();

/// Reads a trust file: binary CV certificates concatenated (as a PKI hands them out), or the
/// same as hex text (whitespace and colons ignored). Errc::kManifest naming the file.
Result<std::vector<cvc::Certificate>> read_trust_file(const std::string& path);

}  // namespace hsmctl::secrets
