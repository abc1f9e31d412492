// SPDX-License-Identifier: Apache-2.0
#include "cli/app.hpp"

#include <csignal>

int main(int argc, char** argv) {
  // Over `ulimit -f`, write(2) fails with EFBIG and the error names the file, instead of the
  // process dying silently from SIGXFSZ halfway through a store write.
  std::signal(SIGXFSZ, SIG_IGN);
  return hsmctl::cli::run(argc, argv);
}
