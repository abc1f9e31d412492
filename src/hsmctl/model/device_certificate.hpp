// SPDX-License-Identifier: Apache-2.0
#pragma once
// What hsmctl shows of a device certificate file (EF 2F02), the same in `plan`, `get` and
// `devices` (docs/manifest.md "Device attestation").

#include <string>

namespace hsmctl::model {

/// The device certificate of EF 2F02: the first CV certificate (7F21) that is not inside a
/// request (secrets::describe_device_certificate). Public data only.
struct DeviceCertificateInfo {
  std::string subject;      ///< CHR (5F20)
  std::string issuer;       ///< CAR (42)
  std::string valid_from;   ///< "2023-03-21"; empty when the certificate has no 5F25
  std::string valid_until;  ///< "2070-12-31"; empty when it has no 5F24
  std::string fingerprint;  ///< SHA-256 of the key's uncompressed point, lower-case hex
};

}  // namespace hsmctl::model
