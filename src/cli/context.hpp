// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every command receives from the global command line, and the exit codes of hsmctl.

#include <string>
#include <vector>

namespace hsmctl::cli {

/// Exit codes: the one contract for every kind and command, documented in docs/exit-codes.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitChanges = 2;       ///< plan --detailed-exitcode: changes, none blocked
inline constexpr int kExitBlocked = 3;       ///< plan --detailed-exitcode / apply: blocked
inline constexpr int kExitManifest = 65;     ///< manifest invalid (EX_DATAERR)
inline constexpr int kExitUnavailable = 69;  ///< no pcscd / reader / card (EX_UNAVAILABLE)
inline constexpr int kExitUsage = 64;        ///< command-line usage error (EX_USAGE)
inline constexpr int kExitSigint = 130;      ///< stopped by SIGINT (128 + 2)
inline constexpr int kExitSigterm = 143;     ///< stopped by SIGTERM (128 + 15)

struct GlobalOptions {
  std::string store_path;  ///< --store / HSMCTL_STORE; "none" = ephemeral, "" = default path
  bool color = false;      ///< resolved: terminal, not NO_COLOR, not --no-color
  int verbosity = 0;       ///< -v count
};

/// A subcommand: gets its own arguments (after the command word) and the global options.
using CommandMain = int (*)(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
