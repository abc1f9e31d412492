// SPDX-License-Identifier: Apache-2.0
#pragma once
// One call for commands that need "the" credential keeper (apply, plan, observe): resolves
// --store / HSMCTL_STORE, unlocks with the environment's sources, and returns the keeper with
// its apply journal.

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/journal.hpp"
#include "hsmctl/store/unlock.hpp"

#include <memory>
#include <string>

namespace hsmctl::store {

struct OpenedKeeper {
  std::unique_ptr<CredentialKeeper> keeper;
  ApplyJournal* journal = nullptr;      ///< the same object as keeper
  EncryptedStore* encrypted = nullptr;  ///< null for --store none
  std::string path;                     ///< "" for --store none
  bool created = false;                 ///< a new store was created by this call
};

/// `store_path`: "none" -> EphemeralKeeper; "" -> default_store_path(); else that path.
/// When the file does not exist: with `create_if_missing` a new store is created in key-file
/// mode (the quick-start default; key at --key-file/HSMCTL_STORE_KEY_FILE or the default key
/// path), else Errc::kUnavailable naming `hsmctl store init`.
Result<OpenedKeeper> open_keeper(const std::string& store_path, const UnlockOptions& unlock,
                                 bool create_if_missing, const StoreOptions& options = {});

}  // namespace hsmctl::store
