// SPDX-License-Identifier: Apache-2.0
#include "cli/store_access.hpp"

#include <sys/stat.h>

#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/store/open.hpp"
#include "hsmctl/store/unlock.hpp"

namespace hsmctl::cli {

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
      return std::unique_ptr<store::CredentialKeeper>(std::make_unique<store::EphemeralKeeper>());
    }
  }
  HSMCTL_TRY_ASSIGN(auto unlock, store::UnlockOptions::from_environment());
  HSMCTL_TRY_ASSIGN(auto opened, store::open_keeper(path, unlock, /*create_if_missing=*/will_write));
  return std::move(opened.keeper);
}

}  // namespace hsmctl::cli
