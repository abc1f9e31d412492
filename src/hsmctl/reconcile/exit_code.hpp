// SPDX-License-Identifier: Apache-2.0
#pragma once
// The exit codes of hsmctl: one contract for every kind and command (docs/exit-codes.md).

#include "hsmctl/util/error.hpp"

namespace hsmctl::reconcile {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitChanges = 2;       ///< plan --detailed-exitcode: changes, none blocked
inline constexpr int kExitBlocked = 3;       ///< plan --detailed-exitcode / apply: blocked
inline constexpr int kExitManifest = 65;     ///< manifest invalid (EX_DATAERR)
inline constexpr int kExitUnavailable = 69;  ///< no pcscd / reader / card (EX_UNAVAILABLE)
inline constexpr int kExitUsage = 64;        ///< command-line usage error (EX_USAGE)
inline constexpr int kExitSigint = 130;      ///< stopped by SIGINT (128 + 2)
inline constexpr int kExitSigterm = 143;     ///< stopped by SIGTERM (128 + 15)

/// Exit code for an error class: usage 64, manifest 65, unavailable 69, everything else 1.
int exit_code_for(const Error& error);
/// Exit code for a stop requested by `sig` (util/interrupt.hpp): 143 for SIGTERM, else 130.
int exit_code_for_signal(int sig);

}  // namespace hsmctl::reconcile
