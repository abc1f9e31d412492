// SPDX-License-Identifier: Apache-2.0
#pragma once
// Crash-safe file replacement and advisory locks (ccache's AtomicFile idea).

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <sys/types.h>

#include <optional>
#include <string>

namespace hsmctl {

/// How far write_file_atomically() waits for the disk.
enum class Sync {
  kDurable,  ///< fsync the file before the rename and the directory after it
  kNone,     ///< no fsync: still all-or-nothing for readers, but a power loss may undo it; for
             ///< records that may lag behind without harm (the store's rollback record)
};

/// Replaces `path` with `content`: writes a temporary file in the same directory with `mode`,
/// fsyncs it, renames it over `path` and fsyncs the directory (unless `sync` is Sync::kNone).
/// Either the old or the new content is on disk afterwards, never a mix; the temporary file is
/// removed on failure.
Result<void> write_file_atomically(const std::string& path, ByteView content, mode_t mode = 0600,
                                   Sync sync = Sync::kDurable);

/// Reads a whole file. Errc::kUnavailable if it does not exist, Errc::kIo otherwise; messages
/// name the file, the cause is the errno of a failed call.
Result<Bytes> read_file(const std::string& path);

/// A file read by read_regular_file, with the metadata of the descriptor it was read from.
struct RegularFile {
  Bytes content;
  mode_t mode = 0;  ///< st_mode of the opened file
  uid_t owner = 0;  ///< st_uid of the opened file
};

/// Reads a regular file of at most `max_bytes`. The file is opened with O_NONBLOCK (a FIFO never
/// blocks the open) and, when `no_follow` is set, O_NOFOLLOW (a symlink as the last component is
/// refused); its type and size are checked with fstat on the opened descriptor before reading,
/// so a FIFO, a device (/dev/zero), a directory or a socket is refused without reading a byte,
/// and an oversized file costs no memory. A file that grows past the limit while being read is
/// refused too. Errc::kUnavailable if it does not exist, Errc::kIo otherwise; the error's `where`
/// names `path` (line 0, so to_string() prints "<path>: message"), its cause is the errno of a
/// failed call, and it never contains file content.
Result<RegularFile> read_regular_file(const std::string& path, std::size_t max_bytes,
                                      bool no_follow = false);

/// Reads an open descriptor (e.g. standard input) to its end, refusing more than `max_bytes`
/// (at most max_bytes + 8 KiB bytes are ever read). `name` is the error's `where` (as in
/// read_regular_file); `expected` reserves that many bytes up front (a secret is then never
/// copied by a reallocation).
Result<Bytes> read_fd_limited(int fd, std::size_t max_bytes, const std::string& name,
                              std::size_t expected = 0);

/// An exclusive (or shared) flock on a lock file, released by the destructor.
class FileLock {
 public:
  /// Blocks until the lock is held. Creates the lock file (mode 0600) if needed. A shared lock
  /// also works where the lock file cannot be created or written: an existing lock file is
  /// opened read-only, and on a read-only filesystem without one no lock is taken (no writer
  /// can exist there).
  static Result<FileLock> acquire(const std::string& lock_path, bool exclusive = true);
  /// An exclusive lock if nobody holds one now (never blocks); nullopt when it is held.
  static Result<std::optional<FileLock>> try_acquire(const std::string& lock_path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();
  /// The lock file's descriptor (-1 for the no-op lock on read-only media).
  int fd() const { return fd_; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace hsmctl
