// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/reconcile/exit_code.hpp"

#include <csignal>

namespace hsmctl::reconcile {

int exit_code_for(const Error& error) {
  switch (error.code) {
    case Errc::kUsage:
      return kExitUsage;
    case Errc::kManifest:
      return kExitManifest;
    case Errc::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

int exit_code_for_signal(int sig) {
  return sig == SIGTERM ? kExitSigterm : kExitSigint;
}

}  // namespace hsmctl::reconcile
