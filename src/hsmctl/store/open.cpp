// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/open.hpp"

#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/held_lock.hpp"

#include <sys/stat.h>

namespace hsmctl::store {

Result<OpenedKeeper> open_keeper(const std::string& store_path, const UnlockOptions& unlock,
                                 bool create_if_missing, const StoreOptions& options) {
  OpenedKeeper out;
  if (store_path == "none") {
    auto keeper = std::make_unique<EphemeralKeeper>();
    out.journal = keeper.get();
    out.keeper = std::move(keeper);
    return out;
  }
  if (store_path.empty()) {
    HSMCTL_TRY_ASSIGN(out.path, default_store_path());
  } else {
    out.path = store_path;
  }
  // Taken before the store is read or created: the second apply waits here (bounded), before
  // it has observed anything with values that the first one may be about to change.
  std::optional<FileLock> run_lock;
  if (options.hold_run_lock) {
    if (create_if_missing) {
      // The lock file lives beside the store, whose directory the first apply creates.
      const auto slash = out.path.find_last_of('/');
      if (slash != std::string::npos && slash > 0)
        HSMCTL_TRY(make_private_dir(out.path.substr(0, slash)));
    }
    HSMCTL_TRY_ASSIGN(run_lock,
                      acquire_held_lock(out.path + ".run.lock", "credential store " + out.path));
  }
  auto keys = std::make_shared<ConfiguredKeySource>(unlock);
  struct stat st {};
  const bool exists = stat(out.path.c_str(), &st) == 0;
  Result<EncryptedStore> store = make_error(Errc::kInternal, "unset");
  if (exists) {
    store = EncryptedStore::open(out.path, keys, options);
  } else if (create_if_missing) {
    store = EncryptedStore::open_or_create(out.path, keys, KeyMode::kKeyFile, options);
    out.created = true;
  } else {
    return make_error(Errc::kUnavailable, "no credential store at " + out.path +
                                              " (create one with `hsmctl store init`, or use "
                                              "--store none)");
  }
  if (!store)
    return tl::unexpected(store.error());
  auto owned = std::make_unique<EncryptedStore>(std::move(*store));
  if (run_lock)
    owned->keep_run_lock(std::move(*run_lock));
  out.encrypted = owned.get();
  out.journal = owned.get();
  out.keeper = std::move(owned);
  return out;
}

}  // namespace hsmctl::store
