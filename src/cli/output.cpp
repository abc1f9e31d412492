// SPDX-License-Identifier: Apache-2.0
#include "cli/output.hpp"

#include "cli/context.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hsmctl::cli {

void print_error(const Error& error) {
  std::fprintf(stderr, "hsmctl: error: %s\n", error.to_string().c_str());
}

void print_warning(const Error& warning) {
  std::fprintf(stderr, "hsmctl: warning: %s\n", warning.to_string().c_str());
}

void print_errors(const std::vector<Error>& errors) {
  for (const auto& e : errors)
    print_error(e);
}

int exit_code_for(const Error& error) {
  return reconcile::exit_code_for(error);
}

int exit_code_for_signal(int sig) {
  return reconcile::exit_code_for_signal(sig);
}

bool stdout_wants_color() {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0')
    return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::strcmp(term, "dumb") == 0)
    return false;
  return isatty(STDOUT_FILENO) != 0;
}

}  // namespace hsmctl::cli
