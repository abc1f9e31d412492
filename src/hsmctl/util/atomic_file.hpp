// SPDX-License-Identifier: Apache-2.0
#pragma once
// Crash-safe file replacement and advisory locks (ccache's AtomicFile idea).

#include <string>
#include <sys/types.h>

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

namespace hsmctl {

/// Replaces `path` with `content`: writes a temporary file in the same directory with `mode`,
/// fsyncs it, renames it over `path` and fsyncs the directory. Either the old or the new content
/// is on disk afterwards, never a mix; the temporary file is removed on failure.
Result<void> write_file_atomically(const std::string& path, ByteView content, mode_t mode = 0600);

/// Reads a whole file. Errc::kUnavailable if it does not exist, Errc::kIo otherwise.
Result<Bytes> read_file(const std::string& path);

/// An exclusive (or shared) flock on a lock file, released by the destructor.
class FileLock {
 public:
  /// Blocks until the lock is held. Creates the lock file (mode 0600) if needed.
  static Result<FileLock> acquire(const std::string& lock_path, bool exclusive = true);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace hsmctl
