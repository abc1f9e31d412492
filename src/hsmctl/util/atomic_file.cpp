// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/atomic_file.hpp"

#include "hsmctl/util/secret.hpp"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <vector>

namespace hsmctl {
namespace {

tl::unexpected<Error> io_error(const std::string& what, const std::string& path, int err) {
  return make_error(Errc::kIo, what + " " + path + ": " + strerror(err), SysErrno{err});
}

// An error about the file `name`, which `where` names (line 0: to_string() prints
// "NAME: message", and callers that already say which file need not cut the name off).
tl::unexpected<Error> file_error(Errc code, const std::string& name, std::string message,
                                 ErrorCause cause = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), SourcePos{name, 0, 0}, {}, cause});
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<void> write_file_atomically(const std::string& path, ByteView content, mode_t mode,
                                   Sync sync) {
  const std::string dir = directory_of(path);
  std::string tmpl = dir + "/." +
                     path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1) +
                     ".XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0)
    return io_error("cannot create temporary file for", path, errno);
  const std::string tmp(name.data());
  auto fail = [&](const char* what) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return io_error(what, path, err);
  };
  if (fchmod(fd, mode) != 0)
    return fail("cannot set mode of");
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail("cannot write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (sync == Sync::kDurable && fsync(fd) != 0)
    return fail("cannot fsync");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return io_error("cannot close", path, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return io_error("cannot rename temporary file over", path, err);
  }
  if (sync == Sync::kNone)
    return {};
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return {};
}

Result<Bytes> read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return make_error(Errc::kUnavailable, "no such file: " + path, SysErrno{err});
    }
    return io_error("cannot open", path, err);
  }
  auto out = read_fd_limited(fd, std::numeric_limits<std::size_t>::max(), path, 0);
  close(fd);
  if (!out) {
    // read_file's errors name the file in the message, as they always did.
    Error e = std::move(out.error());
    e.message = e.to_string();
    e.where.reset();
    return tl::unexpected(std::move(e));
  }
  return out;
}

Result<Bytes> read_fd_limited(int fd, std::size_t max_bytes, const std::string& name,
                              std::size_t expected) {
  Bytes out;
  out.reserve(std::min(expected, max_bytes) + 1);
  std::uint8_t buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      secure_wipe(out.data(), out.size());
      return file_error(Errc::kIo, name, std::string("cannot read: ") + strerror(err),
                        SysErrno{err});
    }
    if (n == 0)
      break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      secure_wipe(out.data(), out.size());
      secure_wipe(buf, sizeof buf);
      return file_error(Errc::kIo, name,
                        "too large (limit " + std::to_string(max_bytes) + " bytes)");
    }
    out.insert(out.end(), buf, buf + n);
  }
  secure_wipe(buf, sizeof buf);  // the content may be a secret
  return out;
}

Result<RegularFile> read_regular_file(const std::string& path, std::size_t max_bytes,
                                      bool no_follow) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (no_follow ? O_NOFOLLOW : 0));
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return file_error(Errc::kUnavailable, path, "no such file", SysErrno{err});
    if (err == ELOOP && no_follow) {
      return file_error(Errc::kIo, path,
                        "a symbolic link (refused: give the path of the file itself)",
                        SysErrno{err});
    }
    return file_error(Errc::kIo, path, std::string("cannot open: ") + strerror(err), SysErrno{err});
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return file_error(Errc::kIo, path, std::string("cannot stat: ") + strerror(err), SysErrno{err});
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a special file";
    return file_error(Errc::kIo, path, std::string("not a regular file (") + what + ")");
  }
  if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
    close(fd);
    return file_error(Errc::kIo, path,
                      "too large: " + std::to_string(st.st_size) + " bytes (limit " +
                          std::to_string(max_bytes) + ")");
  }
  auto content = read_fd_limited(fd, max_bytes, path, static_cast<std::size_t>(st.st_size));
  close(fd);
  if (!content)
    return tl::unexpected(content.error());
  return RegularFile{std::move(*content), st.st_mode, st.st_uid};
}

Result<FileLock> FileLock::acquire(const std::string& lock_path, bool exclusive) {
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && !exclusive && (errno == EROFS || errno == EACCES)) {
    // A reader on read-only media (or in a directory it may not write): a shared flock works on
    // a descriptor opened read-only. Without a lock file on a read-only filesystem nobody can
    // write the store either, so there is nothing to exclude.
    const int create_err = errno;
    fd = open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create_err == EROFS)
      return FileLock(-1);
    if (fd < 0)
      errno = create_err;
  }
  if (fd < 0)
    return io_error("cannot open lock file", lock_path, errno);
  while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR)
      continue;
    int err = errno;
    close(fd);
    return io_error("cannot lock", lock_path, err);
  }
  return FileLock(fd);
}

Result<std::optional<FileLock>> FileLock::try_acquire(const std::string& lock_path) {
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return io_error("cannot open lock file", lock_path, errno);
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK)
      return std::optional<FileLock>();
    return io_error("cannot lock", lock_path, err);
  }
  return std::optional<FileLock>(FileLock(fd));
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0)
    close(fd_);  // closing releases the flock
}

}  // namespace hsmctl
