// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/held_lock.hpp"

#include "hsmctl/util/interrupt.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

namespace hsmctl {
namespace {

std::mutex g_mutex;
LockWait g_wait;  // guarded by g_mutex

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0)
    return "?";
  return buf;
}

// Who holds the lock, as its holder wrote it: one line of printable ASCII, at most 200 bytes.
std::string read_holder(const std::string& lock_path) {
  const int fd = open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return {};
  char buf[256];
  const ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  std::string line;
  for (ssize_t i = 0; i < n && line.size() < 200; ++i) {
    const char c = buf[i];
    if (c == '\n')
      break;
    line += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return line;
}

void write_holder(const FileLock& lock, const std::string& holder) {
  if (lock.fd() < 0)
    return;
  const std::string line = "pid " + std::to_string(getpid()) + " (" + holder + ") on host " +
                           host_name() + " since " + utc_now() + "\n";
  // Best effort: the line only explains a wait; the flock is the lock.
  if (ftruncate(lock.fd(), 0) == 0) {
    (void)!pwrite(lock.fd(), line.data(), line.size(), 0);
  }
}

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto tenths = ms.count() / 100;
  std::string s = std::to_string(tenths / 10);
  if (tenths % 10 != 0)
    s += "." + std::to_string(tenths % 10);
  return s + " s";
}

}  // namespace

void set_lock_wait(LockWait wait) {
  const std::lock_guard<std::mutex> guard(g_mutex);
  g_wait = std::move(wait);
}

LockWait lock_wait() {
  const std::lock_guard<std::mutex> guard(g_mutex);
  return g_wait;
}

Result<FileLock> acquire_held_lock(const std::string& lock_path, const std::string& what,
                                   bool announce) {
  const LockWait wait = lock_wait();
  const auto deadline = std::chrono::steady_clock::now() + wait.timeout;
  auto pause = std::chrono::milliseconds(5);
  for (;;) {
    HSMCTL_TRY_ASSIGN(auto lock, FileLock::try_acquire(lock_path));
    if (lock) {
      if (announce)
        write_holder(*lock, wait.holder);
      return std::move(*lock);
    }
    if (stop_requested()) {
      return make_error(Errc::kUnavailable, what + " is in use by " + read_holder(lock_path) +
                                                "; stopped waiting on " +
                                                signal_name(stop_signal()));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::string holder = read_holder(lock_path);
      if (holder.empty())
        holder = "another process (it wrote no holder line)";
      return make_error(Errc::kUnavailable, what + " is in use by " + holder + " (waited " +
                                                seconds_text(wait.timeout) +
                                                "; --lock-timeout sets how long)");
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

std::optional<std::string> host_lock_dir() {
  std::string dir;
  if (const char* d = std::getenv("HSMCTL_LOCK_DIR"); d != nullptr && *d != '\0') {
    dir = d;
  } else if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r != nullptr && *r == '/') {
    dir = std::string(r) + "/hsmctl";
  } else {
    dir = "/tmp/hsmctl-" + std::to_string(getuid());
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return std::nullopt;
  struct stat st {};
  // A directory someone else made (or a symlink planted in /tmp) is not ours to lock in.
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
      (st.st_mode & 0077) != 0)
    return std::nullopt;
  return dir;
}

std::string lock_file_name(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (out.size() >= 240)
      break;
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    out += plain ? c : '_';
  }
  return out;
}

}  // namespace hsmctl
