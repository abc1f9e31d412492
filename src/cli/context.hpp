// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every command receives from the global command line, and the exit codes of hsmctl.

#include <string>
#include <vector>

namespace hsmctl::cli {

/// Exit codes (documented in README "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitChanges = 2;       ///< plan --detailed-exitcode: changes present
inline constexpr int kExitManifest = 65;     ///< manifest invalid (EX_DATAERR)
inline constexpr int kExitUnavailable = 69;  ///< no pcscd / reader / card (EX_UNAVAILABLE)
inline constexpr int kExitUsage = 64;        ///< command-line usage error (EX_USAGE)

struct GlobalOptions {
  std::string store_path;  ///< --store / HSMCTL_STORE; "none" = ephemeral, "" = default path
  bool color = false;      ///< resolved: terminal, not NO_COLOR, not --no-color
  int verbosity = 0;       ///< -v count
};

/// A subcommand: gets its own arguments (after the command word) and the global options.
using CommandMain = int (*)(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
