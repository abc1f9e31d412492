// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every command receives from the global command line, and the exit codes of hsmctl.

#include "hsmctl/reconcile/exit_code.hpp"

#include <string>
#include <vector>

namespace hsmctl::store {
class CryptoWarmUp;
}

namespace hsmctl::cli {

/// Exit codes: the one contract for every kind and command, documented in docs/exit-codes.md
/// (defined in hsmctl/reconcile/exit_code.hpp).
using reconcile::kExitBlocked;
using reconcile::kExitChanges;
using reconcile::kExitError;
using reconcile::kExitManifest;
using reconcile::kExitOk;
using reconcile::kExitSigint;
using reconcile::kExitSigterm;
using reconcile::kExitUnavailable;
using reconcile::kExitUsage;

struct GlobalOptions {
  std::string store_path;  ///< --store / HSMCTL_STORE; "none" = ephemeral, "" = default path
  bool color = false;      ///< resolved: terminal, not NO_COLOR, not --no-color
  int verbosity = 0;       ///< -v count
  /// plan and apply: OpenSSL's initialisation, started on a second thread as soon as the command
  /// is known (store/warm_up.hpp); ready() before the store is opened. Null for other commands.
  store::CryptoWarmUp* crypto_warm_up = nullptr;
};

/// A subcommand: gets its own arguments (after the command word) and the global options.
using CommandMain = int (*)(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
