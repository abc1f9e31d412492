// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace hsmctl::cli {
/// The whole CLI: parses argv, dispatches to a command, returns the process exit code.
int run(int argc, char** argv);
}  // namespace hsmctl::cli
