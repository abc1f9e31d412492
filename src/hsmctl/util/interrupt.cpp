// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <utility>

namespace hsmctl {
namespace {

volatile sig_atomic_t g_stop_signal = 0;

// Constant lines only: the handler may not format.
constexpr char kFirstInt[] =
    "\nhsmctl: SIGINT received: finishing the current step, then stopping (Ctrl-C again "
    "aborts at once)\n";
constexpr char kFirstTerm[] =
    "\nhsmctl: SIGTERM received: finishing the current step, then stopping (a second signal "
    "aborts at once)\n";

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    // Second signal: die by it now. The signal is blocked while this handler runs, so the
    // re-raised one is delivered, with the default disposition, when the handler returns.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    raise(sig);
    return;
  }
  g_stop_signal = sig;
  const char* msg = sig == SIGINT ? kFirstInt : kFirstTerm;
  const std::size_t len = sig == SIGINT ? sizeof kFirstInt - 1 : sizeof kFirstTerm - 1;
  ssize_t ignored = write(STDERR_FILENO, msg, len);
  (void)ignored;
}

}  // namespace

StopOnSignal::StopOnSignal() {
  g_stop_signal = 0;
  struct sigaction act {};
  act.sa_handler = on_stop_signal;
  sigemptyset(&act.sa_mask);
  // A SIGTERM arriving while the SIGINT handler runs waits for it (and the reverse), so the
  // "first or second" decision is never raced.
  sigaddset(&act.sa_mask, SIGINT);
  sigaddset(&act.sa_mask, SIGTERM);
  act.sa_flags = 0;  // no SA_RESTART: see the header
  // A signal ignored on entry (`hsmctl apply &` from a non-interactive shell, nohup-like
  // wrappers) stays ignored, as the invoker asked.
  for (auto [sig, old] : {std::pair{SIGINT, &old_int_}, std::pair{SIGTERM, &old_term_}}) {
    sigaction(sig, nullptr, old);
    if (old->sa_handler != SIG_IGN)
      sigaction(sig, &act, nullptr);
  }
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  g_stop_signal = 0;  // no guard, no stop request: code run later is not stopped by this one
}

int stop_signal() {
  return g_stop_signal;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    default:
      return "a signal";
  }
}

}  // namespace hsmctl
