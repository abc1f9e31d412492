// SPDX-License-Identifier: Apache-2.0
#pragma once
// Graceful stop on SIGINT / SIGTERM: while a StopOnSignal is alive, the first SIGINT or SIGTERM
// only records a stop request (a flag the reconcile loops check between steps); the second one
// restores the default disposition and re-raises, so the process dies by that signal at once.
//
// Why a flag and no SA_RESTART (decided, see docs/exit-codes.md "Interruption"):
// - The handler only stores the signal number in a volatile sig_atomic_t and write(2)s a
//   constant line to stderr: nothing else is async-signal-safe.
// - Without SA_RESTART a blocking system call returns EINTR. Every blocking call on the apply
//   path already retries on EINTR: pcsc-lite's client socket loops (an SCardTransmit in flight
//   completes), the store's and the simulator's reads, writes and flock()s (util/atomic_file),
//   the ppin client's poll/read/waitpid loops (ppin runs in its own session on a PTY, so a
//   Ctrl-C typed at the terminal never reaches it). The one read that does return early is the
//   apply confirmation ("Only 'yes' is accepted"), which is what an operator pressing Ctrl-C
//   there wants: the caller sees stop_signal() and stops before anything was sent.
// - The hidden prompt (util/prompt.cpp) installs its own handlers while echo is off; on a
//   signal it restores the terminal and these handlers, then re-raises: the signal then counts
//   here as a first (or second) signal like any other.

#include <csignal>

namespace hsmctl {

/// Installs the handlers for SIGINT and SIGTERM for its lifetime and clears any earlier stop
/// request; the destructor restores the previous dispositions and clears the request (without
/// a guard, stop_signal() is always 0). A signal ignored on entry stays ignored. Not nestable:
/// one instance at a time.
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

/// The signal (SIGINT or SIGTERM) that requested a stop, or 0. Async-signal-safe.
int stop_signal();

/// stop_signal() != 0.
inline bool stop_requested() {
  return stop_signal() != 0;
}

/// "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", or "a signal".
const char* signal_name(int sig);

}  // namespace hsmctl
