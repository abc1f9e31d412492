// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: a fresh private temporary directory.

#include <filesystem>
#include <string>

namespace hsmctl::testing {

/// A fresh 0700 directory `<prefix>-XXXXXX` under $TMPDIR (else /tmp), removed with its content
/// by the destructor. Throws std::runtime_error when it cannot be created (GoogleTest reports
/// the exception as the test's failure).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "hsmctl-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::filesystem::path fs_path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace hsmctl::testing
