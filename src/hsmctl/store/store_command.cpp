// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/store_command.hpp"

#include "hsmctl/util/held_lock.hpp"

#include <unistd.h>

#include <algorithm>
#include <ostream>

namespace hsmctl::store {
namespace {

/// `changes`: set, rm, passwd and import wait for a running apply (the store's run lock,
/// docs/locking.md) and hold it; list, get and export read a consistent file without it.
Result<EncryptedStore> open_store(const StoreCommand& c, bool changes = false) {
  std::optional<FileLock> run_lock;
  if (changes) {
    HSMCTL_TRY_ASSIGN(run_lock, acquire_held_lock(c.store_path + ".run.lock",
                                                  "credential store " + c.store_path));
  }
  auto keys = std::make_shared<ConfiguredKeySource>(c.unlock);
  auto store = EncryptedStore::open(c.store_path, keys, c.options);
  if (!store && store.error().code == Errc::kUnavailable) {
    return make_error(Errc::kUnavailable, "no credential store at " + c.store_path +
                                              " (create one with `hsmctl store init`)");
  }
  if (store && run_lock)
    store->keep_run_lock(std::move(*run_lock));
  return store;
}

Result<CredentialKey> entry_key(const StoreCommand& c) {
  if (c.name.empty())
    return make_error(Errc::kUsage, "an entry name is required");
  CredentialKey key = parse_entry_name(c.name);
  if (key.name.empty())
    return make_error(Errc::kUsage, "invalid entry name '" + c.name + "'");
  for (char ch : c.name) {
    if (static_cast<unsigned char>(ch) < 0x20) {
      return make_error(Errc::kUsage, "entry names cannot contain control characters");
    }
  }
  return key;
}

std::string metadata_text(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m)
    out += (out.empty() ? "" : " ") + k + "=" + v;
  return out.empty() ? "-" : out;
}

Result<Secret> read_value(const StoreCommand& c, StoreIo& io) {
  if (isatty(io.in_fd) != 0) {
    if (io.in_fd != STDIN_FILENO)
      return make_error(Errc::kUsage, "cannot prompt on this input");
    return prompt_passphrase("value for " + c.name, /*confirm=*/true);
  }
  auto value = read_passphrase_fd(io.in_fd);
  if (!value) {
    return make_error(Errc::kUsage, "no value on stdin for " + c.name +
                                        " (pipe it in, or run on a terminal to be prompted)");
  }
  return value;
}

Result<void> do_init(const StoreCommand& c, StoreIo& io) {
  auto keys = std::make_shared<ConfiguredKeySource>(c.unlock);
  KeyMode mode = c.init_mode.value_or(keys->preferred_mode());
  HSMCTL_TRY(EncryptedStore::create(c.store_path, keys, mode, c.options));
  io.out << "created credential store " << c.store_path << " (protected by a "
         << key_mode_name(mode) << ")\n";
  return {};
}

Result<void> do_list(const StoreCommand& c, StoreIo& io) {
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c));
  HSMCTL_TRY_ASSIGN(auto entries, store.list());
  if (entries.empty()) {
    io.out << "no entries in " << c.store_path << "\n";
    return {};
  }
  std::size_t width = 4;
  for (const auto& e : entries)
    width = std::max(width, e.id.size());
  auto pad = [](const std::string& s, std::size_t w) {
    return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
  };
  io.out << pad("NAME", width) << "  " << pad("STATE", 8) << "  " << pad("UPDATED", 20)
         << "  METADATA\n";
  for (const auto& e : entries) {
    io.out << pad(e.id, width) << "  " << pad(e.state, 8) << "  " << pad(e.updated, 20) << "  "
           << metadata_text(e.metadata) << "\n";
  }
  HSMCTL_TRY_ASSIGN(auto open, store.open_journals());
  for (const auto& j : open) {
    io.out << "interrupted apply " << j.id << " on " << j.device << " since " << j.started << " ("
           << j.steps.size() << " step(s) recorded); the next apply resumes it\n";
  }
  return {};
}

Result<void> do_get(const StoreCommand& c, StoreIo& io) {
  HSMCTL_TRY_ASSIGN(CredentialKey key, entry_key(c));
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c));
  HSMCTL_TRY_ASSIGN(auto entry, store.get(key));
  if (!entry)
    return make_error(Errc::kStore, "no store entry " + key.id());
  if (!c.reveal) {
    io.out << "name:     " << entry->id() << "\n"
           << "state:    " << entry->state() << "\n"
           << "created:  " << entry->created << "\n"
           << "updated:  " << entry->updated << "\n"
           << "metadata: " << metadata_text(entry->metadata) << "\n"
           << "(value hidden; add --reveal to print it)\n";
    return {};
  }
  if (!entry->current) {
    return make_error(Errc::kStore,
                      key.id() + " has no current value" +
                          (entry->pending ? " (only an unresolved pending one)" : ""));
  }
  io.out.write(entry->current->view().data(), static_cast<std::streamsize>(entry->current->size()));
  io.out << "\n";
  io.out.flush();
  if (entry->pending) {
    io.err << "note: " << key.id()
           << " also has an unresolved pending value; the device may hold either\n";
  }
  return {};
}

Result<void> do_set(const StoreCommand& c, StoreIo& io) {
  HSMCTL_TRY_ASSIGN(CredentialKey key, entry_key(c));
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c, /*changes=*/true));
  HSMCTL_TRY_ASSIGN(Secret value, read_value(c, io));
  HSMCTL_TRY(store.set(key, value, c.metadata));
  io.out << "stored " << key.id() << "\n";
  return {};
}

Result<void> do_rm(const StoreCommand& c, StoreIo& io) {
  HSMCTL_TRY_ASSIGN(CredentialKey key, entry_key(c));
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c, /*changes=*/true));
  HSMCTL_TRY(store.rm(key));
  io.out << "removed " << key.id() << "\n";
  return {};
}

Result<void> do_passwd(const StoreCommand& c, StoreIo& io) {
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c, /*changes=*/true));
  KeyMode mode = c.new_mode.value_or(store.mode());
  auto new_keys = std::make_shared<ConfiguredKeySource>(c.other_unlock);
  HSMCTL_TRY(store.change_key(new_keys, mode));
  io.out << "re-encrypted " << c.store_path << " (now protected by a " << key_mode_name(mode)
         << ")\n";
  return {};
}

Result<void> do_export(const StoreCommand& c, StoreIo& io) {
  if (c.file.empty())
    return make_error(Errc::kUsage, "export needs a FILE");
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c));
  ConfiguredKeySource backup(c.other_unlock);
  HSMCTL_TRY(store.export_to(c.file, backup, KeyMode::kPassphrase, c.overwrite));
  HSMCTL_TRY_ASSIGN(auto entries, store.list());
  io.out << "exported " << entries.size() << " entries to " << c.file
         << " (encrypted with the backup passphrase)\n";
  return {};
}

Result<void> do_import(const StoreCommand& c, StoreIo& io) {
  if (c.file.empty())
    return make_error(Errc::kUsage, "import needs a FILE");
  HSMCTL_TRY_ASSIGN(EncryptedStore store, open_store(c, /*changes=*/true));
  ConfiguredKeySource backup(c.other_unlock);
  HSMCTL_TRY_ASSIGN(ImportSummary s, store.import_from(c.file, backup, c.overwrite));
  io.out << "imported from " << c.file << ": " << s.added << " added, " << s.replaced
         << " replaced, " << s.unchanged << " unchanged\n";
  return {};
}

}  // namespace

CredentialKey parse_entry_name(const std::string& name) {
  auto slash = name.rfind('/');
  if (slash == std::string::npos)
    return CredentialKey{"", name};
  return CredentialKey{name.substr(0, slash), name.substr(slash + 1)};
}

Result<void> run_store_command(const StoreCommand& c, StoreIo& io) {
  if (c.store_path.empty() || c.store_path == "none") {
    return make_error(Errc::kUsage,
                      "`hsmctl store` needs a store file; --store none keeps nothing to manage");
  }
  switch (c.verb) {
    case StoreCommand::Verb::kInit:
      return do_init(c, io);
    case StoreCommand::Verb::kList:
      return do_list(c, io);
    case StoreCommand::Verb::kGet:
      return do_get(c, io);
    case StoreCommand::Verb::kSet:
      return do_set(c, io);
    case StoreCommand::Verb::kRm:
      return do_rm(c, io);
    case StoreCommand::Verb::kPasswd:
      return do_passwd(c, io);
    case StoreCommand::Verb::kExport:
      return do_export(c, io);
    case StoreCommand::Verb::kImport:
      return do_import(c, io);
  }
  return make_error(Errc::kInternal, "unknown store verb");
}

}  // namespace hsmctl::store
