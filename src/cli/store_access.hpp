// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "cli/context.hpp"

#include "hsmctl/store/credential_keeper.hpp"

#include <memory>

namespace hsmctl::cli {

/// Opens the credential store chosen by --store / HSMCTL_STORE ("none": an ephemeral keeper).
/// `will_write` (apply) creates a missing store; otherwise (plan) a missing store reads as empty.
Result<std::unique_ptr<store::CredentialKeeper>> open_keeper(const GlobalOptions& global,
                                                             bool will_write);

}  // namespace hsmctl::cli
