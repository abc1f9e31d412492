// SPDX-License-Identifier: Apache-2.0
#pragma once
// `hsmctl devices [-o table|json]`: every PC/SC reader, whether it holds a card and, for Pico HSMs,
// chip serial, firmware version and whether the device has been initialized.

#include "cli/context.hpp"

#include <string>
#include <vector>

namespace hsmctl::cli {

/// Lists readers through pcscd and probes each card with SELECT, READ BINARY 2F03 and the SO-PIN
/// status query (no PIN is ever sent). Exit codes: kExitOk when the listing worked (cards that
/// are not HSMs or fail to answer are reported per reader), kExitUnavailable when pcscd is not
/// reachable or knows no readers, kExitUsage on a bad command line.
/// Note: the probe SELECTs the HSM applet, which ends PIN sessions other programs hold on it.
int devices_main(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
