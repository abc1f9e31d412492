// SPDX-License-Identifier: Apache-2.0
#pragma once
// `hsmctl devices [-o table|json]`: every PC/SC reader, whether it holds a card and, for Pico HSMs,
// chip serial, firmware version, whether the device has been initialized and its device
// certificate (EF 2F02).

#include "cli/context.hpp"

#include "hsmctl/model/device_certificate.hpp"
#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::cli {

/// Lists readers through pcscd and probes each card with SELECT, READ BINARY 2F03, the SO-PIN
/// status query and READ BINARY 2F02 (no PIN is ever sent). Exit codes: kExitOk when the listing
/// worked (cards that are not HSMs or fail to answer are reported per reader), kExitUnavailable
/// when pcscd is not reachable or knows no readers, kExitUsage on a bad command line. Note: the
/// probe SELECTs the HSM applet, which ends PIN sessions other programs hold on it.
int devices_main(const std::vector<std::string>& args, const GlobalOptions& global);

/// The device certificate as `devices` and `get` show it: the certificate, or (unset) a note
/// saying why there is none ("none (no certificate in EF 2F02: ...)", "unreadable (...)").
struct ShownCertificate {
  std::optional<model::DeviceCertificateInfo> info;
  std::string note;
};
/// From what READ BINARY of EF 2F02 answered (SmartCardHsm::read_ef: unset = absent).
ShownCertificate show_device_certificate(const Result<std::optional<Bytes>>& ef_2f02);
/// One line: "ESPICOHSMTR00001 issued by ESPICOHSMTR00001, valid 2023-03-21..2070-12-31, key
/// fingerprint 5b0e…" (as `plan` shows it), or the note.
std::string certificate_line(const ShownCertificate& shown);

}  // namespace hsmctl::cli
