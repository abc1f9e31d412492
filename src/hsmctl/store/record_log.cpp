// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/record_log.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace hsmctl::store {

namespace {

constexpr std::size_t kMaxLogBytes = 16U << 20;  // a log this large was never written by hsmctl
constexpr const char* kTag = "r1";

struct Line {
  std::string stream, seq, text;
};

bool parse_line(const std::string& line, Line& out) {
  std::istringstream in(line);
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

Result<std::vector<std::string>> read_lines(const std::string& path) {
  auto file = read_regular_file(path, kMaxLogBytes, /*no_follow=*/true);
  if (!file) {
    if (file.error().code == Errc::kUnavailable)
      return std::vector<std::string>{};
    return tl::unexpected(file.error());
  }
  if ((file->mode & 077) != 0 || file->owner != geteuid()) {
    return make_error(Errc::kStore, path +
                                        " is accessible by group or others or not owned by the "
                                        "user running hsmctl; refusing to use it (chmod 600 it)");
  }
  std::vector<std::string> lines;
  std::string text(file->content.begin(), file->content.end());
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  // A last line without its newline is a torn append: never trust it.
  if (!text.empty() && text.back() != '\n' && !lines.empty())
    lines.pop_back();
  return lines;
}

}  // namespace

Result<std::vector<LogRecord>> RecordLog::read(const std::string& stream) const {
  HSMCTL_TRY_ASSIGN(auto lines, read_lines(path_));
  std::vector<LogRecord> out;
  for (const auto& l : lines) {
    Line parsed;
    if (parse_line(l, parsed) && parsed.stream == stream) {
      out.push_back({std::move(parsed.seq), std::move(parsed.text)});
    }
  }
  return out;
}

Result<std::string> RecordLog::append(const std::string& stream, const std::string& text,
                                      bool sync) {
  if (!token_ok(stream) || text.empty() || text.find('\n') != std::string::npos) {
    return make_error(Errc::kInternal, "malformed record for " + path_);
  }
  HSMCTL_TRY_ASSIGN(Bytes raw, crypto::random_bytes(8));
  const std::string seq = to_hex(raw);
  const std::string line = std::string(kTag) + " " + stream + " " + seq + " " + text + "\n";
  const int fd =
      ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
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
  // One write: a line is appended whole or (after a power loss) torn, never interleaved.
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  if (n != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return io_error("cannot append to", path_, n < 0 ? write_errno : EIO);
  }
  // A new file's directory entry must be durable too, or the synced line could vanish with it.
  const bool created = st.st_size == 0;
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
