// SPDX-License-Identifier: Apache-2.0
#include "cli/store_access.hpp"

#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/store/open.hpp"
#include "hsmctl/store/unlock.hpp"

#include <sys/stat.h>

#include <cstdio>

namespace hsmctl::cli {
namespace {

// The first apply creates the store silently otherwise, and it may hold the only copy of a
// generated SO PIN: say where it is, what unlocks it and how to back it up (stderr).
void announce_new_store(const std::string& store_path, const std::string& key_path,
                        bool key_existed) {
  std::fprintf(stderr,
               "hsmctl: created the credential store %s; it keeps every PIN hsmctl sets (a "
               "generated PIN has no other copy)\n",
               store_path.c_str());
  std::fprintf(stderr,
               "hsmctl:   unlocked by the key file %s (%s, mode 0600): whoever can read it can "
               "read the store; see README \"Credential store\" for a passphrase instead\n",
               key_path.c_str(), key_existed ? "already there" : "created now");
  std::fprintf(stderr,
               "hsmctl:   back it up: hsmctl store export FILE (an encrypted copy under its own "
               "passphrase; restore with hsmctl store import FILE)\n");
}

}  // namespace

Result<std::unique_ptr<store::CredentialKeeper>> open_keeper(const GlobalOptions& global,
                                                             bool will_write) {
  std::string path = global.store_path;
  if (path != "none") {
    if (path.empty()) {
      HSMCTL_TRY_ASSIGN(path, store::default_store_path());
    }
    struct stat st {};
    if (!will_write && stat(path.c_str(), &st) != 0) {
      // plan reads only: a store that does not exist yet is an empty one.
      return std::unique_ptr<store::CredentialKeeper>(
          std::make_unique<store::EphemeralKeeper>(/*stands_in_for_a_store=*/true));
    }
  }
  HSMCTL_TRY_ASSIGN(auto unlock, store::UnlockOptions::from_environment());
  // A store created here is created with a key file (store::open_keeper); note whether that file
  // exists already, to say which one the new store depends on.
  std::string key_path;
  if (unlock.key_file) {
    key_path = *unlock.key_file;
  } else if (auto p = store::default_key_file_path()) {
    key_path = *p;
  }
  struct stat key_st {};
  const bool key_existed = !key_path.empty() && stat(key_path.c_str(), &key_st) == 0;
  store::StoreOptions options;
  options.hold_run_lock = will_write;  // apply: one at a time per store (docs/locking.md)
  HSMCTL_TRY_ASSIGN(auto opened,
                    store::open_keeper(path, unlock, /*create_if_missing=*/will_write, options));
  if (opened.created)
    announce_new_store(opened.path, key_path, key_existed);
  return std::move(opened.keeper);
}

}  // namespace hsmctl::cli
