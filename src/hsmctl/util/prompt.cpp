// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/prompt.hpp"

#include "hsmctl/util/interrupt.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <mutex>

namespace hsmctl {
namespace {

// State the signal handler needs: the terminal and its settings before echo was turned off.
volatile sig_atomic_t g_tty_fd = -1;
volatile sig_atomic_t g_signal = 0;
struct termios g_saved {};

constexpr std::array<int, 4> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

extern "C" void restore_tty_on_signal(int sig) {
  // tcsetattr and write are async-signal-safe. The read in progress fails with EINTR (no
  // SA_RESTART); read_hidden then re-raises the signal under its previous disposition.
  if (g_tty_fd >= 0) {
    tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved);
    ssize_t ignored = write(g_tty_fd, "\n", 1);
    (void)ignored;
  }
  g_signal = sig;
}

// Blocks the prompt's signals for its lifetime; `old` is the mask to wait with.
struct SignalsBlocked {
  SignalsBlocked() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kSignals)
      sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;
  sigset_t old{};
};

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<std::size_t>(n);
  }
}

// Echo off on `fd` for the lifetime of the object, with signal handlers that restore it.
class QuietTerminal {
 public:
  static Result<void> start(int fd, QuietTerminal& out, Errc errc) {
    if (tcgetattr(fd, &g_saved) != 0) {
      const int err = errno;
      return make_error(errc, std::string("cannot read the terminal settings: ") + strerror(err),
                        SysErrno{err});
    }
    struct sigaction act {};
    act.sa_handler = restore_tty_on_signal;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0;  // no SA_RESTART: the read must return
    g_signal = 0;
    g_tty_fd = fd;
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      sigaction(kSignals[i], &act, &out.old_[i]);
    }
    out.active_ = true;
    struct termios quiet = g_saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK);
    quiet.c_lflag |= ECHONL | ICANON;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
      int err = errno;
      out.stop();
      return make_error(errc, std::string("cannot turn off terminal echo: ") + strerror(err),
                        SysErrno{err});
    }
    return {};
  }
  QuietTerminal() = default;
  QuietTerminal(const QuietTerminal&) = delete;
  QuietTerminal& operator=(const QuietTerminal&) = delete;
  ~QuietTerminal() { stop(); }

  /// Restores the terminal and the signal dispositions; re-raises a signal caught meanwhile.
  void stop() {
    if (!active_)
      return;
    active_ = false;
    if (g_tty_fd >= 0)
      tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved);
    g_tty_fd = -1;
    for (std::size_t i = 0; i < kSignals.size(); ++i)
      sigaction(kSignals[i], &old_[i], nullptr);
    if (g_signal != 0)
      raise(g_signal);
  }

 private:
  std::array<struct sigaction, kSignals.size()> old_{};
  bool active_ = false;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0)
      close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<Secret> ask_once(int tty, const std::string& text, const HiddenPrompt& prompt, Errc errc) {
  QuietTerminal quiet;
  HSMCTL_TRY(QuietTerminal::start(tty, quiet, errc));
  write_all(tty, text);
  bool eof = false;
  auto value = read_hidden_line(tty, prompt.max_length, errc, &eof);
  quiet.stop();
  if (g_signal != 0)
    return make_error(errc, "interrupted at the prompt");
  if (!value)
    return value;
  if (eof)
    return make_error(errc, "no value entered (end of input at the prompt)");
  if (value->empty())
    return make_error(errc, "empty value entered at the prompt");
  return value;
}

}  // namespace

Result<Secret> read_hidden_line(int fd, std::size_t max_length, Errc errc, bool* eof) {
  if (max_length > kMaxHiddenInput)
    max_length = kMaxHiddenInput;
  std::array<std::uint8_t, kMaxHiddenInput> buf;  // fixed: never reallocated, wiped below
  std::size_t len = 0;
  bool too_long = false;
  bool any = false;
  if (eof != nullptr)
    *eof = false;
  // The signals are blocked except while waiting in ppoll(): one that arrives after the flags
  // were checked but before the wait began is delivered inside the wait (EINTR), never lost
  // (a plain read() would block on, with the typed line already discarded by the terminal).
  SignalsBlocked blocked;
  for (;;) {
    if (g_signal != 0 || stop_requested()) {
      secure_wipe(buf.data(), buf.size());
      return make_error(errc, "interrupted at the prompt");
    }
    pollfd ready{fd, POLLIN, 0};
    if (ppoll(&ready, 1, nullptr, &blocked.old) < 0) {
      if (errno == EINTR)
        continue;  // the flags above say whether it was a signal that stops the prompt
      int err = errno;
      secure_wipe(buf.data(), buf.size());
      return make_error(errc, std::string("cannot read the value: ") + strerror(err),
                        SysErrno{err});
    }
    std::uint8_t c = 0;
    ssize_t n = read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      int err = errno;
      secure_wipe(buf.data(), buf.size());
      return make_error(errc, std::string("cannot read the value: ") + strerror(err),
                        SysErrno{err});
    }
    if (n == 0) {
      if (eof != nullptr)
        *eof = !any;
      break;
    }
    any = true;
    if (c == '\n')
      break;
    if (len >= max_length) {
      too_long = true;  // keep reading to the end of the line, storing nothing
      continue;
    }
    buf[len++] = c;
  }
  if (too_long) {
    secure_wipe(buf.data(), buf.size());
    return make_error(errc, "the value is longer than " + std::to_string(max_length) + " bytes");
  }
  if (len > 0 && buf[len - 1] == '\r')
    --len;
  Secret out(ByteView(buf.data(), len));
  secure_wipe(buf.data(), buf.size());
  return out;
}

bool terminal_available() {
  Fd tty(open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  return tty.get() >= 0;
}

Result<Secret> read_hidden(const HiddenPrompt& prompt, Errc errc) {
  // Devices may be prepared in parallel (reconcile::Session): one prompt at a time.
  static std::mutex prompt_mutex;
  std::lock_guard<std::mutex> one_at_a_time(prompt_mutex);
  Fd tty(open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (tty.get() < 0) {
    const int err = errno;
    return make_error(errc,
                      "cannot ask for " + prompt.what +
                          ": there is no terminal (/dev/tty: " + strerror(err) + ")",
                      SysErrno{err});
  }
  HSMCTL_TRY_ASSIGN(Secret first, ask_once(tty.get(), "Enter " + prompt.what + ": ", prompt, errc));
  if (prompt.confirm) {
    HSMCTL_TRY_ASSIGN(Secret second,
                      ask_once(tty.get(), "Repeat " + prompt.what + ": ", prompt, errc));
    if (!first.equals(second)) {
      return make_error(errc, "the two values entered for " + prompt.what + " differ");
    }
  }
  return first;
}

}  // namespace hsmctl
