// SPDX-License-Identifier: Apache-2.0
#pragma once
// `hsmctl store ...` without the command-line parsing (which lives in cli/commands/store.cpp):
// the operations, their output and their rules. Values are printed only by `get --reveal`, only
// to `out`; everything else prints names, states and metadata.

#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/unlock.hpp"

#include <iosfwd>
#include <map>
#include <optional>
#include <string>

namespace hsmctl::store {

struct StoreCommand {
  enum class Verb { kInit, kList, kGet, kSet, kRm, kPasswd, kExport, kImport };
  Verb verb = Verb::kList;
  std::string store_path;  ///< resolved path (not "none", not empty)
  std::string name;        ///< get/set/rm: an entry id ("root-ca" or "pico:SERIAL/so-pin")
  std::string file;        ///< export/import
  bool reveal = false;     ///< get
  bool overwrite = false;  ///< export/import
  std::map<std::string, std::string> metadata;  ///< set --meta k=v
  UnlockOptions unlock;              ///< how to unlock the store (init: how to protect it)
  UnlockOptions other_unlock;        ///< passwd: the new key; export/import: the backup passphrase
  std::optional<KeyMode> init_mode;  ///< init: forced mode; default key file iff one was named
  std::optional<KeyMode> new_mode;   ///< passwd: target mode (default: the store's current one)
  StoreOptions options;
};

struct StoreIo {
  int in_fd = 0;  ///< where `set` reads the value when it is not a terminal
  std::ostream& out;
  std::ostream& err;
};

/// Splits "device/name" at the last '/'; a name without '/' is a free-form entry.
CredentialKey parse_entry_name(const std::string& name);

/// Runs one store subcommand. Errors: Errc::kUsage (bad name, missing value), Errc::kUnavailable
/// (no store file), Errc::kStore / kIo otherwise.
Result<void> run_store_command(const StoreCommand& command, StoreIo& io);

}  // namespace hsmctl::store
