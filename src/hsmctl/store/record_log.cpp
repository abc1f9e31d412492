// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/record_log.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace hsmctl::store {

namespace {

constexpr std::size_t kMaxLogBytes = 16U << 20;  // a log this large was never written by hsmctl
constexpr const char* kTag = "r1";

struct Line {
  std::string stream, seq, text;
};

/// FNV-1a over the line before its check field: a line cut short by a power loss (which may
/// still look like a record) never passes.
std::string check_of(std::string_view body) {
  std::uint32_t h = 2166136261U;
  for (unsigned char c : body) {
    h ^= c;
    h *= 16777619U;
  }
  char out[9];
  std::snprintf(out, sizeof out, "%08x", h);
  return out;
}

bool parse_line(const std::string& line, Line& out) {
  const auto last = line.rfind(' ');
  if (last == std::string::npos || line.substr(last + 1) != check_of(line.substr(0, last))) {
    return false;
  }
  std::istringstream in(line.substr(0, last));
  std::string tag;
  if (!(in >> tag >> out.stream >> out.seq) || tag != kTag)
    return false;
  std::getline(in, out.text);
  if (out.text.empty() || out.text.front() != ' ')
    return false;
  out.text.erase(0, 1);
  return !out.text.empty();
}

bool token_ok(const std::string& s) {
  if (s.empty())
    return false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      return false;
  }
  return true;
}

tl::unexpected<Error> io_error(const std::string& what, const std::string& path, int err) {
  return make_error(Errc::kIo, what + " " + path + ": " + std::strerror(err), SysErrno{err});
}

Result<void> check_private(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    return make_error(Errc::kStore, path +
                                        " is not a private regular file owned by the user running "
                                        "hsmctl; refusing to use it (chmod 600 it)");
  }
  return {};
}

/// Appends to `lines` the complete lines after `view.consumed` and advances it; starts over
/// when the file is not the one `view` has read (replaced by a drop) or shrank.
Result<void> read_new_lines(const std::string& path, RecordLogView& view,
                            std::vector<std::string>& lines) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      view = RecordLogView{};
      return {};
    }
    return io_error("cannot open", path, err);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot stat", path, err);
  }
  if (auto ok = check_private(st, path); !ok) {
    ::close(fd);
    return ok;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > kMaxLogBytes) {
    ::close(fd);
    return make_error(Errc::kStore, path + " is larger than any record log hsmctl writes");
  }
  if (view.device != st.st_dev || view.inode != st.st_ino || size < view.consumed) {
    view = RecordLogView{};
    view.device = st.st_dev;
    view.inode = st.st_ino;
  }
  std::string tail(size - view.consumed, '\0');
  std::size_t got = 0;
  while (got < tail.size()) {
    const ssize_t n =
        ::pread(fd, tail.data() + got, tail.size() - got, static_cast<off_t>(view.consumed + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  tail.resize(got);
  // Only complete lines: a last line without its newline is a torn append, never trusted.
  const auto end = tail.rfind('\n');
  if (end == std::string::npos)
    return {};
  std::size_t pos = 0;
  while (pos <= end) {
    const auto nl = tail.find('\n', pos);
    lines.push_back(tail.substr(pos, nl - pos));
    pos = nl + 1;
  }
  view.consumed += end + 1;
  return {};
}

/// Complete lines of the file, a torn (newline-less) last line left out.
Result<std::vector<std::string>> read_lines(const std::string& path) {
  RecordLogView view;
  std::vector<std::string> lines;
  HSMCTL_TRY(read_new_lines(path, view, lines));
  return lines;
}

}  // namespace

Result<void> RecordLog::refresh(RecordLogView& view) const {
  const std::uint64_t inode = view.inode;
  std::vector<std::string> lines;
  HSMCTL_TRY(read_new_lines(path_, view, lines));
  if (view.inode != inode)
    view.streams.clear();
  for (const auto& l : lines) {
    Line parsed;
    if (parse_line(l, parsed)) {
      view.streams[parsed.stream].push_back({std::move(parsed.seq), std::move(parsed.text)});
    }
  }
  return {};
}

Result<std::vector<LogRecord>> RecordLog::read(const std::string& stream) const {
  RecordLogView view;
  HSMCTL_TRY(refresh(view));
  auto it = view.streams.find(stream);
  if (it == view.streams.end())
    return std::vector<LogRecord>{};
  return std::move(it->second);
}

Result<std::string> RecordLog::append(const std::string& stream, const std::string& text,
                                      bool sync) {
  if (!token_ok(stream) || text.empty() || text.find('\n') != std::string::npos) {
    return make_error(Errc::kInternal, "malformed record for " + path_);
  }
  HSMCTL_TRY_ASSIGN(Bytes raw, crypto::random_bytes(8));
  const std::string seq = to_hex(raw);
  const std::string body = std::string(kTag) + " " + stream + " " + seq + " " + text;
  const std::string line = body + " " + check_of(body) + "\n";
  const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("cannot open", path_, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 ||
      st.st_uid != geteuid()) {
    ::close(fd);
    return make_error(Errc::kStore, path_ +
                                        " is not a private regular file owned by the user "
                                        "running hsmctl; refusing to use it (chmod 600 it)");
  }
  // After a torn append (power loss), the next record starts on a line of its own.
  std::string out = line;
  char last = '\n';
  if (st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
    out.insert(out.begin(), '\n');
  }
  // One write: a line is appended whole or (after a power loss) torn, never interleaved.
  const ssize_t n = ::write(fd, out.data(), out.size());
  const int write_errno = errno;
  if (n != static_cast<ssize_t>(out.size())) {
    ::close(fd);
    return io_error("cannot append to", path_, n < 0 ? write_errno : EIO);
  }
  // A new file's directory entry must be durable too, or the synced line could vanish with it.
  // The first line of a new file is always synced (with the directory), so a later synced
  // append never depends on a directory entry nobody made durable.
  const bool created = st.st_size == 0;
  sync = sync || created;
  if (sync && ::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot sync", path_, err);
  }
  ::close(fd);
  if (sync && created) {
    const auto slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  return seq;
}

Result<void> RecordLog::drop(const std::string& stream, const std::string& through_seq) {
  HSMCTL_TRY_ASSIGN(auto lines, read_lines(path_));
  bool marker_present = false;
  for (const auto& l : lines) {
    Line parsed;
    if (parse_line(l, parsed) && parsed.stream == stream && parsed.seq == through_seq) {
      marker_present = true;
    }
  }
  std::string kept;
  bool dropping = true;  // this stream's lines, up to and including the marker
  for (const auto& l : lines) {
    Line parsed;
    if (!parse_line(l, parsed))
      continue;  // a torn line is not worth keeping
    if (parsed.stream == stream && dropping) {
      if (marker_present && parsed.seq == through_seq)
        dropping = false;
      continue;
    }
    kept += l + "\n";
  }
  return write_file_atomically(path_, bytes_of(kept), 0600);
}

Result<void> RecordLog::remove() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return io_error("cannot remove", path_, errno);
  }
  return {};
}

}  // namespace hsmctl::store
