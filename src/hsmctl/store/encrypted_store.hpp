// SPDX-License-Identifier: Apache-2.0
#pragma once
// The credential store: one file, whole-payload AES-256-GCM under a key derived with scrypt
// (passphrase) or taken from a 0600 key file, behind a fully authenticated header
// (docs/store-format.md). Every mutation is a locked read-modify-write that is on stable storage
// before the call returns; concurrent hsmctl processes never lose each other's updates. A
// mutation is one encrypted record appended to the store's log (`<store>.records`, stream
// "store-log"); the log is folded into the file (one rewrite) at kFoldAfter records and when the
// object is destroyed.

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/store/format.hpp"
#include "hsmctl/store/journal.hpp"
#include "hsmctl/store/key_source.hpp"
#include "hsmctl/store/payload.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::store {

struct StoreOptions {
  /// scrypt parameters for a new store or a new passphrase. log2_n below kMinProductionLog2N is
  /// refused unless allow_weak_kdf_for_tests is set; above kMaxLog2N always.
  ScryptParams scrypt{};
  bool allow_weak_kdf_for_tests = false;
  /// store::open_keeper: hold `<store>.run.lock` (util/held_lock.hpp) from before the store is
  /// read until the keeper is destroyed, so two applies (or an apply and a `store` change) on
  /// one store never interleave (docs/locking.md). The holder line is util lock_wait().holder.
  bool hold_run_lock = false;
};

/// What `list` shows: names, states and metadata, never values.
struct EntryInfo {
  std::string id;
  std::string device;
  std::string name;
  std::string state;  ///< "current", "pending", "empty"
  bool has_current = false;
  bool has_pending = false;
  std::string created;
  std::string updated;
  std::map<std::string, std::string> metadata;
};

struct ImportSummary {
  int added = 0;
  int replaced = 0;
  int unchanged = 0;
};

class EncryptedStore final : public CredentialKeeper, public ApplyJournal {
 public:
  /// Creates a new store file at `path` (its directory is created 0700 if missing), protected in
  /// `mode` with material from `keys` (asked with creating = true). Errc::kStore if the file
  /// already exists or the work factor is not allowed.
  static Result<EncryptedStore> create(const std::string& path, std::shared_ptr<KeySource> keys,
                                       KeyMode mode, const StoreOptions& options = {});
  /// Opens an existing store and checks that `keys` unlock it. Errc::kUnavailable if there is no
  /// file; Errc::kStore for a wrong passphrase/key file, a damaged, truncated or newer file, or a
  /// file accessible by group or others.
  static Result<EncryptedStore> open(const std::string& path, std::shared_ptr<KeySource> keys,
                                     const StoreOptions& options = {});
  /// open(), or create() in `mode_if_new` when the file does not exist.
  static Result<EncryptedStore> open_or_create(const std::string& path,
                                               std::shared_ptr<KeySource> keys, KeyMode mode_if_new,
                                               const StoreOptions& options = {});

  /// Folds the log into the store file (fold_log()), best effort: a failure leaves the log,
  /// which the next open replays.
  ~EncryptedStore() override;
  EncryptedStore(EncryptedStore&&) noexcept = default;
  EncryptedStore& operator=(EncryptedStore&&) noexcept = default;
  EncryptedStore(const EncryptedStore&) = delete;
  EncryptedStore& operator=(const EncryptedStore&) = delete;

  const std::string& path() const { return path_; }
  /// Keeps `lock` until this store is destroyed (after the log is folded).
  void keep_run_lock(FileLock lock) { run_lock_ = std::move(lock); }
  /// How the file is protected (as of the last read).
  KeyMode mode() const { return header_.mode(); }
  /// How many times this object decrypted and parsed the store file (statistics for benchmarks
  /// and tests): a file that still holds the bytes this object last verified or wrote is not
  /// decrypted again.
  std::uint64_t decrypt_count() const { return decrypt_count_; }
  /// The generation counter of the file on disk (incremented by every save: a fold of the log,
  /// a key change, the creation).
  Result<std::uint64_t> generation();
  /// How many times this object rewrote the store file (statistics for benchmarks and tests).
  std::uint64_t save_count() const { return save_count_; }
  /// Rewrites the store file with the log's changes and empties the log (one atomic rewrite).
  /// A no-op when the log holds nothing for the current file. Runs by itself when the log
  /// reaches kFoldAfter records, and when the object is destroyed.
  Result<void> fold_log();
  /// Log records after which a mutation folds the log into the file.
  static constexpr std::size_t kFoldAfter = 128;

  // CredentialKeeper. Each call sees the file and its log under the lock; mutations are
  // durable on return: one encrypted record appended to the log and synced (docs/store-format.md
  // "Log"), not a rewrite of the file.
  Result<std::optional<Secret>> current(const CredentialKey& key) override;
  Result<std::optional<Secret>> pending(const CredentialKey& key) override;
  /// Errc::kStore if a different pending value already waits for resolution: overwriting it
  /// could lose the only copy of what the device now holds.
  Result<void> stage(const CredentialKey& key, const Secret& value) override;
  /// Errc::kStore if nothing is pending.
  Result<void> commit(const CredentialKey& key) override;
  /// Drops the pending value; a no-op when nothing is pending.
  Result<void> discard(const CredentialKey& key) override;
  /// Sets current; clears pending (it either equals the value or is proven not on the device).
  Result<void> record_current(const CredentialKey& key, const Secret& value) override;
  /// Facts are entry metadata fields.
  Result<std::optional<std::string>> fact(const CredentialKey& key,
                                          const std::string& field) override;
  Result<void> record_fact(const CredentialKey& key, const std::string& field,
                           const std::string& value) override;
  ApplyJournal* journal() override { return this; }
  /// Takes the store's exclusive lock until end_group(); appends meanwhile are written but not
  /// synced, end_group() syncs the log once (store::SerializedKeeper's group commit).
  Result<void> begin_group() override;
  Result<void> end_group() override;

  /// Names, states and metadata of all entries, sorted by id. Never values.
  Result<std::vector<EntryInfo>> list();
  /// The whole entry (with values), or nullopt.
  Result<std::optional<Entry>> get(const CredentialKey& key);
  /// Sets the current value (and merges `metadata`). Errc::kStore if a pending value exists.
  Result<void> set(const CredentialKey& key, const Secret& value,
                   const std::map<std::string, std::string>& metadata = {});
  /// Sets one metadata field of an existing entry. Errc::kStore if there is no such entry.
  Result<void> set_metadata(const CredentialKey& key, const std::string& field,
                            const std::string& value);
  /// Removes an entry. Errc::kStore if there is no such entry.
  Result<void> rm(const CredentialKey& key);

  /// Re-encrypts the store under new key material (new salt; mode may change), atomically:
  /// the file holds either the old or the new encryption, never neither.
  Result<void> change_key(std::shared_ptr<KeySource> new_keys, KeyMode new_mode);

  /// Writes the entries (not the journals) to `file` as a store-format file protected by
  /// `backup_keys` in `mode`. Errc::kStore if `file` exists and !overwrite.
  Result<void> export_to(const std::string& file, KeySource& backup_keys, KeyMode mode,
                         bool overwrite = false);
  /// Merges the entries of a backup file. An entry whose values differ from an existing one is
  /// a conflict: Errc::kStore naming the ids unless `overwrite`.
  Result<ImportSummary> import_from(const std::string& file, KeySource& backup_keys,
                                    bool overwrite = false);

  /// Records live in "<store>.records" (store/record_log.hpp): an append is one small synced
  /// write, never a rewrite of the encrypted file. Under the store's lock.
  Result<std::vector<LogRecord>> records(const std::string& stream) override;
  Result<std::string> append_record(const std::string& stream, const std::string& text,
                                    bool durable = true) override;
  Result<void> drop_records(const std::string& stream, const std::string& through_seq) override;

  // ApplyJournal (same file, same durability).
  Result<std::string> journal_begin(const std::string& device,
                                    const std::string& plan_summary) override;
  Result<void> journal_step(const std::string& journal_id, const std::string& step,
                            JournalState state, const std::string& credential = {}) override;
  Result<void> journal_end(const std::string& journal_id,
                           const std::string& outcome = "applied") override;
  Result<std::vector<Journal>> open_journals() override;
  /// All journals, closed ones included (the store keeps the last kKeptClosedJournals).
  Result<std::vector<Journal>> journals();
  static constexpr std::size_t kKeptClosedJournals = 20;

  /// Which version of the file a snapshot holds, as stat() tells it without reading it. Every
  /// write replaces the file (a new inode, and a ctime no process can set back).
  struct FileVersion {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };

 private:
  EncryptedStore(std::string path, std::shared_ptr<KeySource> keys, StoreOptions options);
  /// The file's content, decrypted (or the snapshot, when the file is unchanged). The pointer
  /// is valid until the next load or save. Caller holds a lock.
  Result<const StoreData*> load_unlocked_file();
  Result<void> save(StoreData& data);  // caller holds the exclusive lock; empties the log
  /// The file's content with the log's records applied (caller holds a lock). Valid until the
  /// next load or save.
  Result<const StoreData*> load_unlocked();
  /// Appends `delta` (against the current file) to the log, synced. Caller holds the exclusive
  /// lock and has just called load_unlocked().
  Result<void> append_delta(StoreDelta delta);
  Result<Secret> log_key();
  template <class F>
  Result<void> mutate(F&& change);
  /// mutate() of one entry (`entry_id`, or none) and the journals: `change` sees a StoreData
  /// holding only those (the entry if it exists), so it must touch nothing else.
  template <class F>
  Result<void> mutate_part(const std::string* entry_id, F&& change);
  template <class F>
  auto read(F&& reader) -> decltype(reader(std::declval<const StoreData&>()));
  Result<Secret> kek_for(const StoreHeader& header, bool creating);
  /// The store's lock for one call: none while a group holds the exclusive lock.
  Result<std::optional<FileLock>> lock_for_call(bool exclusive);
  /// RecordLog::append of a record that must be durable: synced now, or at end_group().
  Result<std::string> append_durable(const std::string& stream, const std::string& text);

  std::optional<FileLock> run_lock_;  ///< destroyed last: released after the destructor folds
  std::string path_;
  std::string lock_path_;
  std::shared_ptr<KeySource> keys_;
  StoreOptions options_;
  StoreHeader header_;         ///< KDF id, parameters and salt of the file as last read or written
  std::optional<Secret> kek_;  ///< cached for header_'s KDF/salt (scrypt costs ~0.4 s)
  /// The file bytes this process last verified or wrote and their decoded content: one decrypt
  /// per process while nobody else writes the store (issue 13).
  struct Snapshot {
    Bytes file;
    StoreData data;
    std::optional<FileVersion> version;  ///< unset: compare the bytes
  };
  RecordLogView records_view_;  // the record log as last read (appends are read incrementally)
  std::optional<Snapshot> snapshot_;
  /// The file's content with the log applied; `log_applied` records of the log's stream are in
  /// it (the rest are read and applied by the next load).
  struct Merged {
    StoreData data;
    std::size_t log_applied = 0;
    std::size_t log_records = 0;  ///< of them, records against the current file
    std::uint64_t decrypts = 0, saves = 0, generation = 0;  ///< which file content it extends
  };
  std::optional<Merged> merged_;
  RecordLogView log_view_;
  std::optional<std::pair<std::array<std::uint8_t, 16>, Secret>> log_key_;  ///< salt, key
  std::uint64_t save_count_ = 0;
  /// False in a moved-from object (its destructor folds nothing).
  struct Live {
    bool live = true;
    Live() = default;
    Live(Live&& o) noexcept : live(std::exchange(o.live, false)) {}
    Live& operator=(Live&& o) noexcept {
      live = std::exchange(o.live, false);
      return *this;
    }
    Live(const Live&) = delete;
    Live& operator=(const Live&) = delete;
    ~Live() = default;
  } live_;
  std::uint64_t decrypt_count_ = 0;
  /// A group commit in progress: its lock, and what end_group() must sync.
  struct Group {
    Group() : unsynced(false), created(false) {}  // not NSDMIs: std::optional<Group> below
    std::optional<FileLock> lock;
    bool unsynced;
    bool created;
  };
  std::optional<Group> group_;
};

/// Decrypts a whole store file with material from `keys` (no locking, no permission check):
/// for inspection and tests. The error kind says why it failed.
FormatResult<StoreData> decrypt_store_bytes(ByteView file, KeySource& keys);

/// Checks that `path` is a regular file not accessible by group or others (like ssh does for
/// private keys). Errc::kStore naming the mode and the fix otherwise.
Result<void> check_private_file(const std::string& path);

/// Creates `dir` and missing parents; the last component with mode 0700.
Result<void> make_private_dir(const std::string& dir);

}  // namespace hsmctl::store
