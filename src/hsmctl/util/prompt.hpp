// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one reader of hidden input (PINs, passphrases, secret values typed by a person).
// It talks to the controlling terminal (/dev/tty), never to stdin/stderr, so it works with stdin
// and stderr redirected and cannot read a secret from a pipe by accident. The line is read into
// a fixed buffer that is wiped afterwards (no growing string leaves copies in freed memory), echo
// is off while reading and the terminal is restored on every path, including SIGINT, SIGTERM,
// SIGHUP and SIGQUIT (the signal is re-raised once the terminal is back).

#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstddef>
#include <string>

namespace hsmctl {

struct HiddenPrompt {
  /// What is asked for, e.g. `spec.userPin of manifest "root-ca" (root-ca.yaml:7:13)`; the
  /// prompt reads "Enter <what>: " and, with confirm, "Repeat <what>: ".
  std::string what;
  /// Ask twice and require the same value (for a value that is about to be set).
  bool confirm = false;
  /// Longest accepted value in bytes (at most kMaxHiddenInput).
  std::size_t max_length = 1024;
};

inline constexpr std::size_t kMaxHiddenInput = 4096;

/// True when the process has a controlling terminal to ask on (/dev/tty opens).
bool terminal_available();

/// Reads one value from /dev/tty with echo off. Errors (code `errc`): no terminal, empty value,
/// too long, the two entries differ, interrupted. The message never contains what was typed.
Result<Secret> read_hidden(const HiddenPrompt& prompt, Errc errc);

/// The line reader itself, for a descriptor already set up (tests; read_hidden uses it): reads
/// up to '\n' (a trailing '\r' is dropped) into a fixed buffer, wiped before returning.
/// Sets *eof when end of input came before any byte.
Result<Secret> read_hidden_line(int fd, std::size_t max_length, Errc errc, bool* eof = nullptr);

}  // namespace hsmctl
