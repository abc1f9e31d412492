// SPDX-License-Identifier: Apache-2.0
#pragma once
// `hsmctl store init|list|get|set|rm|passwd|export|import`: manage the credential store.

#include "cli/context.hpp"

#include <string>
#include <vector>

namespace hsmctl::cli {

/// Entry point of the `store` command (args exclude the word "store"). Returns an exit code:
/// 0 ok, 64 usage, 69 no store file, 1 any other failure.
int store_main(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
