// SPDX-License-Identifier: Apache-2.0
#pragma once
// Locks between hsmctl processes that say who holds them and are waited for only so long
// (docs/locking.md): the credential store while an apply (or a `store` change) runs, a simulator
// file or a PC/SC reader while a card session is held. The holder writes one line into the lock
// file ("pid 1234 (hsmctl apply) on host h since 2026-12-05T21:40:03Z"); whoever waits longer
// than the lock timeout gets that line in its error instead of hanging.

#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/error.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace hsmctl {

/// How long to wait for a lock and how this process describes itself to the ones that wait.
struct LockWait {
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::string holder = "hsmctl";  ///< "hsmctl apply": the command that holds the lock
};

/// Set once by the CLI before any work (--lock-timeout / HSMCTL_LOCK_TIMEOUT); read by every lock
/// below, also from the worker threads of a parallel plan.
void set_lock_wait(LockWait wait);
LockWait lock_wait();

/// An exclusive flock on `lock_path` (created 0600), waited for at most lock_wait().timeout
/// (polling; a stop request ends the wait too). Once held, the file says who holds it (unless
/// `announce` is false: a lock held for one command, not worth two system calls). On time-out:
/// Errc::kUnavailable "<what> is in use by <holder line> (waited N s; --lock-timeout ...)".
Result<FileLock> acquire_held_lock(const std::string& lock_path, const std::string& what,
                                   bool announce = true);

/// The directory for locks that belong to no file of the user's (PC/SC readers):
/// $HSMCTL_LOCK_DIR, else $XDG_RUNTIME_DIR/hsmctl, else /tmp/hsmctl-<uid>; created mode 0700
/// and used only when it is a directory owned by this user and closed to others. nullopt when
/// there is none (then only pcscd's own transaction excludes other processes).
std::optional<std::string> host_lock_dir();

/// `name` with every byte outside [A-Za-z0-9._-] replaced by '_' (at most 240 bytes): a lock
/// file name for a reader name.
std::string lock_file_name(const std::string& name);

}  // namespace hsmctl
