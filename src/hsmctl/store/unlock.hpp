// SPDX-License-Identifier: Apache-2.0
#pragma once
// How hsmctl unlocks its credential store, and where the store lives.
//
// Passphrase sources, first match wins: a passphrase file (HSMCTL_STORE_PASSPHRASE_FILE or
// --passphrase-file; must be 0600 or stricter), a file descriptor (HSMCTL_STORE_PASSPHRASE_FD or
// --passphrase-fd), a no-echo prompt on the controlling terminal (/dev/tty). Non-interactive runs
// without a source get an error naming the options. Key-file mode: a random 32-byte key in a 0600
// file
// (--key-file / HSMCTL_STORE_KEY_FILE, default $XDG_CONFIG_HOME/hsmctl/store.key), created on
// first use. Passphrases never come from argv.

#include "hsmctl/store/key_source.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <optional>
#include <string>

namespace hsmctl::store {

/// $HSMCTL_STORE if set, else $XDG_DATA_HOME/hsmctl/store.hsmctl, else
/// ~/.local/share/hsmctl/store.hsmctl. Errc::kStore if no home directory can be found.
Result<std::string> default_store_path();
/// $HSMCTL_STORE_KEY_FILE if set, else $XDG_CONFIG_HOME/hsmctl/store.key, else
/// ~/.config/hsmctl/store.key.
Result<std::string> default_key_file_path();

/// Reads a passphrase file: must be a regular file with mode 0600 or stricter; one trailing
/// newline ("\n" or "\r\n") is removed; empty is an error.
Result<Secret> read_passphrase_file(const std::string& path);
/// Reads a passphrase from an open descriptor up to EOF or the first newline. The descriptor
/// is not closed.
Result<Secret> read_passphrase_fd(int fd);
/// Asks on the controlling terminal (/dev/tty) with echo off (util/prompt.hpp).
/// `confirm`: asks twice and fails if the answers differ. Errc::kStore if there is no terminal.
Result<Secret> prompt_passphrase(const std::string& prompt, bool confirm);
/// Reads a key file: 0600 or stricter, exactly 32 bytes.
Result<Secret> read_key_file(const std::string& path);
/// Creates a key file with 32 random bytes, mode 0600, failing if it exists. Written to a
/// temporary file and linked to `path` only when complete: `path` never holds a partial key. The
/// directory is created 0700 if missing.
Result<Secret> create_key_file(const std::string& path);

struct UnlockOptions {
  std::optional<std::string> passphrase_file;
  std::optional<int> passphrase_fd;
  std::optional<std::string> key_file;  ///< explicit --key-file / HSMCTL_STORE_KEY_FILE
  bool allow_prompt = true;             ///< prompt on /dev/tty when there is one
  std::string prompt_label = "store passphrase";

  /// HSMCTL_STORE_PASSPHRASE_FILE, HSMCTL_STORE_PASSPHRASE_FD, HSMCTL_STORE_KEY_FILE.
  static Result<UnlockOptions> from_environment();
};

/// The KeySource the CLI and apply use. Material is read once and cached (a descriptor can only
/// be read once); a key file is created on first use only when `creating`.
class ConfiguredKeySource final : public KeySource {
 public:
  explicit ConfiguredKeySource(UnlockOptions options) : options_(std::move(options)) {}
  Result<Secret> material(KeyMode mode, bool creating) override;
  /// Which mode a new store gets: key file when one was named explicitly, else passphrase.
  KeyMode preferred_mode() const;

 private:
  UnlockOptions options_;
  std::optional<Secret> passphrase_;
  std::optional<Secret> key_;
};

/// prctl(PR_SET_DUMPABLE, 0) and RLIMIT_CORE 0: no core dump and no ptrace by the same user
/// for a process that holds secrets. Errc::kInternal if either call fails.
Result<void> disable_core_dumps();

}  // namespace hsmctl::store
