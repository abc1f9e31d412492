// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: run a program, feed stdin, capture stdout/stderr and the exit code. The one
// process runner of the CLI, unit and end-to-end tests.

#include <map>
#include <string>
#include <vector>

namespace hsmctl::testing {

struct ProcessResult {
  int exit_code = -1;      ///< exit status; 128+N when killed by signal N; -1 when it never ran
  int term_signal = 0;     ///< the signal that ended the process, 0 when it exited
  bool timed_out = false;  ///< killed (SIGKILL, by PID) because the timeout passed
  std::string out;
  std::string err;
  std::string command;  ///< argv joined by spaces, for messages
  std::string all() const { return out + err; }
  /// "command: ... / exit: ... / --- stdout --- ... / --- stderr --- ..." for assertion messages.
  std::string diagnostics() const;
};

/// Runs argv[0] (a path, or a name looked up in PATH) with argv, the current environment plus
/// `env` (an empty value unsets), and `input` on stdin (small inputs: it is written before any
/// output is read, so it must fit the pipe buffer). The child runs in a session of its own (no
/// controlling terminal: /dev/tty fails as it does in CI) with default SIGINT/SIGTERM
/// dispositions. After `timeout_seconds` it is killed with SIGKILL by PID (`timed_out`).
/// When the program cannot be started, exit_code is 127 and `err` says why; when no process
/// could be created, exit_code is -1.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          const std::string& input = {}, int timeout_seconds = 120);

}  // namespace hsmctl::testing
