// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the CLI writes: results to stdout, diagnostics to stderr, in one consistent format.

#include "hsmctl/util/error.hpp"

#include <string>
#include <vector>

namespace hsmctl::cli {

/// "hsmctl: error: <file:line:col: path: message>" on stderr.
void print_error(const Error& error);
void print_warning(const Error& warning);
void print_errors(const std::vector<Error>& errors);
/// Exit code for an error class (see context.hpp).
int exit_code_for(const Error& error);
/// Exit code for a stop requested by `sig` (util/interrupt.hpp): 143 for SIGTERM, else 130.
int exit_code_for_signal(int sig);
/// True when stdout is a terminal, NO_COLOR is unset and TERM is not "dumb".
bool stdout_wants_color();

}  // namespace hsmctl::cli
