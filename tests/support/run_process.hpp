// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: run a program, feed stdin, capture stdout/stderr and the exit code.

#include <map>
#include <string>
#include <vector>

namespace hsmctl::testing {

struct ProcessResult {
  int exit_code = -1;  ///< exit status, or 128+signal
  int term_signal = 0;  ///< the signal that ended the process, 0 when it exited
  std::string out;
  std::string err;
  std::string all() const { return out + err; }
};

/// Runs argv[0] (a path) with argv, the current environment plus `env` (an empty value unsets),
/// and `input` on stdin. Kills it (by PID) after `timeout_seconds`.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          const std::string& input = {}, int timeout_seconds = 120);

/// A fresh private temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text, int mode = 0600);

}  // namespace hsmctl::testing
