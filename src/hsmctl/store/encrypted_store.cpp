// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/encrypted_store.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/store/fingerprint.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

namespace hsmctl::store {
namespace {

// The store's log: a stream of the record log (`<store>.records`) whose records are encrypted
// deltas (docs/store-format.md "Log").
constexpr const char* kLogStream = "store-log";
constexpr std::string_view kLogRecordPrefix = "w1.";
constexpr std::string_view kLogAad = "hsmctl-store-log-1";
constexpr std::size_t kLogIvSize = 12;

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

Result<void> check_scrypt_params(const ScryptParams& p, bool allow_weak) {
  if (!scrypt_within_caps(p.log2_n, p.r, p.p)) {
    return make_error(Errc::kStore,
                      "scrypt parameters out of range (log2 N " + std::to_string(kMinLog2N) + ".." +
                          std::to_string(kMaxLog2N) + ", r 1.." + std::to_string(kMaxScryptR) +
                          ", p 1.." + std::to_string(kMaxScryptP) +
                          ", 128 * N * r <= 1 GiB, N * r * p <= 2^23)");
  }
  if (p.log2_n < kMinProductionLog2N && !allow_weak) {
    return make_error(Errc::kStore, "scrypt work factor 2^" + std::to_string(p.log2_n) +
                                        " is below the minimum 2^" +
                                        std::to_string(kMinProductionLog2N) +
                                        " (lower values are for tests only)");
  }
  return {};
}

EntryInfo info_of(const Entry& e) {
  EntryInfo i;
  i.id = e.id();
  i.device = e.device;
  i.name = e.name;
  i.state = e.state();
  i.has_current = e.current.has_value();
  i.has_pending = e.pending.has_value();
  i.created = e.created;
  i.updated = e.updated;
  i.metadata = e.metadata;
  return i;
}

bool same_value(const std::optional<Secret>& a, const std::optional<Secret>& b) {
  if (a.has_value() != b.has_value())
    return false;
  return !a || a->equals(*b);
}

// Temporary files of write_file_atomically ("<dir>/.<store name>.XXXXXX") left by a process that
// was killed between mkstemp and rename. They hold an encrypted snapshot (possibly with pending
// values) that nothing will ever read. Called with the exclusive lock held, after a successful
// write: no other writer can own such a file at that moment.
void remove_stale_snapshots(const std::string& store_path) {
  const std::string dir = dir_of(store_path);
  const auto slash = store_path.rfind('/');
  const std::string prefix =
      "." + store_path.substr(slash == std::string::npos ? 0 : slash + 1) + ".";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr)
    return;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0)
      continue;
    const bool suffix_ok =
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
    if (!suffix_ok)
      continue;
    struct stat st {};
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

// A store path that is a symbolic link is used through its target: reads, writes (the rename
// replaces the target, not the link) and the lock file (<target>.lock) all use the resolved
// path, so the link keeps pointing at the live store. A dangling link is refused.
Result<std::string> resolve_store_path(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode))
    return path;
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) {
    const int err = errno;
    return make_error(Errc::kStore,
                      path + " is a symbolic link whose target cannot be resolved (" +
                          strerror(err) + "); refusing to replace the link",
                      SysErrno{err});
  }
  std::string out = real;
  free(real);
  return out;
}

// Rollback and swap detection. After every successful write hsmctl records, beside the store in
// "<store>.seen", which store it wrote (a digest of the header's random KDF salt, fixed when the
// store or its key is created) and the generation it reached. A later load refuses a store file
// whose generation is lower (an older copy put back) or whose salt differs (another store put in
// its place). It cannot see a rollback of both files together, an edited or deleted record, or
// a store swapped before hsmctl ever wrote it on this machine (docs/store-format.md).
struct SeenRecord {
  std::string id;
  std::uint64_t generation = 0;
};

std::string seen_path(const std::string& store_path) {
  return store_path + ".seen";
}
std::string records_path(const std::string& store_path) {
  return store_path + ".records";
}

std::string store_identity(const StoreHeader& header) {
  Bytes digest = crypto::sha256(ByteView(header.salt.data(), header.salt.size()));
  return to_hex(ByteView(digest.data(), 16));
}

std::optional<SeenRecord> read_seen(const std::string& store_path) {
  auto file = read_regular_file(seen_path(store_path), 4096, /*no_follow=*/true);
  if (!file)
    return std::nullopt;
  const std::string text(file->content.begin(), file->content.end());
  SeenRecord r;
  char id[65] = {};
  unsigned long long generation = 0;
  if (std::sscanf(text.c_str(), "hsmctl-store-seen 1 id %64s generation %llu", id, &generation) !=
      2) {
    return std::nullopt;
  }
  r.id = id;
  r.generation = generation;
  return r;
}

Result<void> check_seen(const std::string& store_path, const StoreHeader& header,
                        std::uint64_t generation) {
  auto seen = read_seen(store_path);
  if (!seen)
    return {};
  if (seen->id != store_identity(header)) {
    return make_error(Errc::kStore, store_path +
                                        ": this is not the store hsmctl last wrote here (another "
                                        "store file was put in its place); if that is intended, "
                                        "remove " +
                                        seen_path(store_path));
  }
  if (generation < seen->generation) {
    return make_error(Errc::kStore,
                      store_path + ": generation " + std::to_string(generation) +
                          " is older than generation " + std::to_string(seen->generation) +
                          " that hsmctl wrote here (an older copy was put back?); values it "
                          "lacks may be lost. If the rollback is intended, remove " +
                          seen_path(store_path));
  }
  return {};
}

void record_seen(const std::string& store_path, const StoreHeader& header,
                 std::uint64_t generation) {
  const std::string text = "hsmctl-store-seen 1 id " + store_identity(header) + " generation " +
                           std::to_string(generation) + "\n";
  // Best effort: the store itself is already written; a missing record only weakens detection.
  // Not synced: the store file is durable before this is written, so after a power loss the
  // record can only lag behind the store (weaker detection), never claim a generation the store
  // lacks. Halves the fsyncs of every store write.
  (void)write_file_atomically(seen_path(store_path), bytes_of(text), 0600, Sync::kNone);
}

tl::unexpected<Error> no_entry(const CredentialKey& key) {
  return make_error(Errc::kStore, "no store entry " + key.id());
}

}  // namespace

Result<void> check_private_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return make_error(Errc::kUnavailable, "no such file: " + path);
    return make_error(Errc::kIo, "cannot stat " + path + ": " + strerror(err), SysErrno{err});
  }
  if (!S_ISREG(st.st_mode))
    return make_error(Errc::kStore, path + " is not a regular file");
  if (st.st_uid != geteuid()) {
    return make_error(Errc::kStore, path + " is owned by uid " + std::to_string(st.st_uid) +
                                        ", not by the user running hsmctl (uid " +
                                        std::to_string(geteuid()) +
                                        "); refusing to use it (chown it, or run as its owner)");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(Errc::kStore, path + " has mode " + mode +
                                        " and is accessible by group or others; refusing to use "
                                        "it (run: chmod 600 " +
                                        path + ")");
  }
  return {};
}

Result<void> make_private_dir(const std::string& dir) {
  if (dir.empty() || dir == "." || dir == "/")
    return {};
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return make_error(Errc::kIo, dir + " is not a directory");
    return {};
  }
  std::string parent = dir_of(dir);
  if (parent != dir) {
    // Parents that hsmctl creates (e.g. ~/.local/share) get 0700 as well; existing ones are
    // left alone.
    HSMCTL_TRY(make_private_dir(parent));
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    return make_error(Errc::kIo, "cannot create directory " + dir + ": " + strerror(err),
                      SysErrno{err});
  }
  return {};
}

EncryptedStore::EncryptedStore(std::string path, std::shared_ptr<KeySource> keys,
                               StoreOptions options)
    : path_(std::move(path)), keys_(std::move(keys)), options_(options) {
  lock_path_ = path_ + ".lock";
}

Result<EncryptedStore> EncryptedStore::create(const std::string& path,
                                              std::shared_ptr<KeySource> keys, KeyMode mode,
                                              const StoreOptions& options) {
  if (mode == KeyMode::kPassphrase) {
    HSMCTL_TRY(check_scrypt_params(options.scrypt, options.allow_weak_kdf_for_tests));
  }
  HSMCTL_TRY(make_private_dir(dir_of(path)));
  EncryptedStore store(path, std::move(keys), options);
  HSMCTL_TRY_ASSIGN(auto lock, FileLock::acquire(store.lock_path_, true));
  if (file_exists(path)) {
    return make_error(Errc::kStore, "a store already exists at " + path);
  }
  HSMCTL_TRY_ASSIGN(store.header_, new_header(mode, options.scrypt));
  HSMCTL_TRY_ASSIGN(Secret material, store.keys_->material(mode, /*creating=*/true));
  HSMCTL_TRY_ASSIGN(Secret kek, derive_kek(store.header_, material));
  store.kek_ = std::move(kek);
  // Records of a store that was at this path before refer to its keys: they start afresh.
  HSMCTL_TRY(RecordLog(records_path(path)).remove());
  StoreData empty;
  HSMCTL_TRY(store.save(empty));
  return store;
}

Result<EncryptedStore> EncryptedStore::open(const std::string& path,
                                            std::shared_ptr<KeySource> keys,
                                            const StoreOptions& options) {
  HSMCTL_TRY_ASSIGN(std::string real, resolve_store_path(path));
  EncryptedStore store(real, std::move(keys), options);
  HSMCTL_TRY(check_private_file(real));
  HSMCTL_TRY_ASSIGN(auto lock, FileLock::acquire(store.lock_path_, false));
  HSMCTL_TRY(store.load_unlocked());
  return store;
}

Result<EncryptedStore> EncryptedStore::open_or_create(const std::string& path,
                                                      std::shared_ptr<KeySource> keys,
                                                      KeyMode mode_if_new,
                                                      const StoreOptions& options) {
  if (file_exists(path))
    return open(path, std::move(keys), options);
  auto created = create(path, keys, mode_if_new, options);
  if (!created && file_exists(path))
    return open(path, std::move(keys), options);  // lost race
  return created;
}

Result<Secret> EncryptedStore::kek_for(const StoreHeader& header, bool creating) {
  if (kek_ && header_.kdf == header.kdf && header_.salt == header.salt &&
      header_.scrypt.log2_n == header.scrypt.log2_n && header_.scrypt.r == header.scrypt.r &&
      header_.scrypt.p == header.scrypt.p) {
    return *kek_;
  }
  HSMCTL_TRY_ASSIGN(Secret material, keys_->material(header.mode(), creating));
  return derive_kek(header, material);
}

namespace {
std::optional<EncryptedStore::FileVersion> file_version(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::nullopt;
  EncryptedStore::FileVersion v;
  v.device = st.st_dev;
  v.inode = st.st_ino;
  v.size = static_cast<std::uint64_t>(st.st_size);
  v.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  v.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return v;
}
}  // namespace

Result<const StoreData*> EncryptedStore::load_unlocked_file() {
  HSMCTL_TRY(check_private_file(path_));
  // The file this process last verified or wrote, unchanged since (same inode, size and times):
  // its content is reused without reading it again (a fleet plan reads the store once per
  // process, not once per device). The rollback record is still checked.
  const auto before = file_version(path_);
  if (snapshot_ && snapshot_->version && before && *snapshot_->version == *before) {
    HSMCTL_TRY(check_seen(path_, header_, snapshot_->data.generation));
    return &snapshot_->data;
  }
  HSMCTL_TRY_ASSIGN(Bytes file, read_file(path_));
  // Known only when the file did not change while it was read.
  auto after = file_version(path_);
  const std::optional<FileVersion> version =
      before && after && *before == *after ? after : std::nullopt;
  // The same ciphertext under the same key decrypts to the same payload: when the file holds
  // exactly the bytes this process last verified or wrote, its decoded content is reused
  // instead of being decrypted and parsed again. Any write by another process replaces the
  // bytes (new nonce, new generation), so a changed store is always decrypted. The rollback
  // record is still checked: another process may have written a newer generation since.
  if (snapshot_ && snapshot_->file == file) {
    snapshot_->version = version;
    HSMCTL_TRY(check_seen(path_, header_, snapshot_->data.generation));
    return &snapshot_->data;
  }
  snapshot_.reset();
  ++decrypt_count_;
  auto header = parse_header(file);
  if (!header)
    return tl::unexpected(format_error_to_error(header.error(), path_));
  HSMCTL_TRY_ASSIGN(Secret kek, kek_for(*header, false));
  auto plain = open_file(file, *header, kek);
  if (!plain)
    return tl::unexpected(format_error_to_error(plain.error(), path_));
  auto data = parse_payload(*plain);
  if (!data)
    return tl::unexpected(format_error_to_error(data.error(), path_));
  HSMCTL_TRY(check_seen(path_, *header, data->generation));
  header_ = *header;
  kek_ = std::move(kek);
  snapshot_ = Snapshot{std::move(file), std::move(*data), version};
  return &snapshot_->data;
}

Result<void> EncryptedStore::save(StoreData& data) {
  if (!kek_)
    return make_error(Errc::kInternal, "store saved without a key");
  data.generation += 1;
  data.modified = now_rfc3339();
  HSMCTL_TRY_ASSIGN(Secret plain, serialize_payload(data));
  HSMCTL_TRY_ASSIGN(Bytes file, seal_file(header_, *kek_, plain.bytes()));
  snapshot_.reset();  // the file changes now, whatever the outcome
  merged_.reset();
  HSMCTL_TRY(write_file_atomically(path_, file, 0600));
  ++save_count_;
  snapshot_ = Snapshot{std::move(file), data, file_version(path_)};
  record_seen(path_, header_, data.generation);
  remove_stale_snapshots(path_);
  // The file now holds every record of the log (they name an older generation, so a reader
  // would skip them anyway): dropped, best effort.
  if (auto it = log_view_.streams.find(kLogStream);
      it != log_view_.streams.end() && !it->second.empty()) {
    (void)RecordLog(records_path(path_)).drop(kLogStream, "");
  }
  return {};
}

EncryptedStore::~EncryptedStore() {
  if (live_.live && merged_ && merged_->log_records > 0)
    (void)fold_log();
}

Result<Secret> EncryptedStore::log_key() {
  if (!kek_)
    return make_error(Errc::kInternal, "store log used without a key");
  if (!log_key_ || log_key_->first != header_.salt) {
    HSMCTL_TRY_ASSIGN(Secret key,
                      crypto::hkdf_sha256(*kek_, ByteView(header_.salt.data(), header_.salt.size()),
                                          "hsmctl store log v1", 32));
    log_key_.emplace(header_.salt, std::move(key));
  }
  return log_key_->second;
}

Result<const StoreData*> EncryptedStore::load_unlocked() {
  HSMCTL_TRY_ASSIGN(const StoreData* file, load_unlocked_file());
  if (!merged_ || merged_->decrypts != decrypt_count_ || merged_->saves != save_count_ ||
      merged_->generation != file->generation) {
    merged_ = Merged{*file, 0, 0, decrypt_count_, save_count_, file->generation};
  }
  HSMCTL_TRY(RecordLog(records_path(path_)).refresh(log_view_));
  auto it = log_view_.streams.find(kLogStream);
  if (it == log_view_.streams.end())
    return &merged_->data;
  const auto& records = it->second;
  if (records.size() < merged_->log_applied)  // the log was rewritten: apply it afresh
    merged_ = Merged{*file, 0, 0, decrypt_count_, save_count_, file->generation};
  for (std::size_t i = merged_->log_applied; i < records.size(); ++i) {
    const std::string& text = records[i].text;
    auto damaged = [&](const std::string& why) {
      return make_error(Errc::kStore, records_path(path_) + ": record " + std::to_string(i + 1) +
                                          " of the store's log " + why +
                                          "; the store file itself is intact (hsmctl store "
                                          "export still reads it without the log's changes)");
    };
    if (text.rfind(kLogRecordPrefix, 0) != 0)
      return damaged("has an unknown format");
    auto raw = from_hex(text.substr(kLogRecordPrefix.size()));
    if (!raw || raw->size() <= kLogIvSize)
      return damaged("is not valid hex");
    HSMCTL_TRY_ASSIGN(Secret key, log_key());
    const ByteView iv(raw->data(), kLogIvSize);
    const ByteView sealed(raw->data() + kLogIvSize, raw->size() - kLogIvSize);
    auto plain = crypto::aes256gcm_open(key, iv, bytes_of(std::string(kLogAad)), sealed);
    if (!plain)
      return damaged("does not authenticate under this store's key");
    auto delta = parse_delta(*plain);
    if (!delta)
      return damaged("is malformed (" + delta.error().message + ")");
    if (delta->base < file->generation)
      continue;  // folded into the file already (a fold was cut short before the log was emptied)
    if (delta->base > file->generation) {
      return make_error(Errc::kStore,
                        path_ + " is generation " + std::to_string(file->generation) +
                            " but its log (" + records_path(path_) + ") holds changes to " +
                            "generation " + std::to_string(delta->base) +
                            ": an older copy of the store file was put back; put the newer one "
                            "back (or restore a backup with hsmctl store import)");
    }
    if (delta->index != merged_->log_records) {
      return damaged("is change " + std::to_string(delta->index) + " where change " +
                     std::to_string(merged_->log_records) + " was due (a record is missing)");
    }
    apply_delta(merged_->data, *delta);
    ++merged_->log_records;
  }
  merged_->log_applied = records.size();
  return &merged_->data;
}

Result<void> EncryptedStore::append_delta(StoreDelta delta) {
  if (!snapshot_ || !merged_)
    return make_error(Errc::kInternal, "store log appended without a load");
  delta.base = snapshot_->data.generation;
  delta.index = merged_->log_records;
  if (merged_->log_records >= kFoldAfter) {  // fold instead: one rewrite, an empty log
    StoreData data = merged_->data;
    apply_delta(data, delta);
    return save(data);
  }
  HSMCTL_TRY_ASSIGN(Secret plain, serialize_delta(delta));
  HSMCTL_TRY_ASSIGN(Secret key, log_key());
  HSMCTL_TRY_ASSIGN(Bytes iv, crypto::random_bytes(kLogIvSize));
  HSMCTL_TRY_ASSIGN(Bytes sealed,
                    crypto::aes256gcm_seal(key, iv, bytes_of(std::string(kLogAad)), plain.bytes()));
  Bytes raw = iv;
  raw.insert(raw.end(), sealed.begin(), sealed.end());
  HSMCTL_TRY(append_durable(kLogStream, std::string(kLogRecordPrefix) + to_hex(raw)));
  // Ours is the only new record (the exclusive lock is held): applied here, not read back.
  apply_delta(merged_->data, delta);
  ++merged_->log_records;
  HSMCTL_TRY(RecordLog(records_path(path_)).refresh(log_view_));
  merged_->log_applied = log_view_.streams[kLogStream].size();
  return {};
}

Result<void> EncryptedStore::fold_log() {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  HSMCTL_TRY_ASSIGN(const StoreData* loaded, load_unlocked());
  if (merged_->log_records == 0)
    return {};
  StoreData data = *loaded;
  return save(data);
}

Result<std::vector<LogRecord>> EncryptedStore::records(const std::string& stream) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(false));
  HSMCTL_TRY(RecordLog(records_path(path_)).refresh(records_view_));
  auto it = records_view_.streams.find(stream);
  if (it == records_view_.streams.end())
    return std::vector<LogRecord>{};
  return it->second;
}

Result<std::string> EncryptedStore::append_record(const std::string& stream,
                                                  const std::string& text, bool durable) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  if (durable)
    return append_durable(stream, text);
  return RecordLog(records_path(path_)).append(stream, text, false);
}

Result<std::optional<FileLock>> EncryptedStore::lock_for_call(bool exclusive) {
  if (group_)
    return std::optional<FileLock>{};  // the group holds the exclusive lock
  HSMCTL_TRY_ASSIGN(auto lock, FileLock::acquire(lock_path_, exclusive));
  return std::optional<FileLock>(std::move(lock));
}

Result<std::string> EncryptedStore::append_durable(const std::string& stream,
                                                   const std::string& text) {
  RecordLog log(records_path(path_));
  if (!group_)
    return log.append(stream, text, true);
  bool created = false;
  HSMCTL_TRY_ASSIGN(std::string seq, log.append(stream, text, false, &created));
  group_->unsynced = true;
  group_->created = group_->created || created;
  return seq;
}

Result<void> EncryptedStore::begin_group() {
  if (group_)
    return make_error(Errc::kInternal, "store group commit begun twice");
  HSMCTL_TRY_ASSIGN(auto lock, FileLock::acquire(lock_path_, true));
  group_.emplace();
  group_->lock.emplace(std::move(lock));
  return {};
}

Result<void> EncryptedStore::end_group() {
  if (!group_)
    return make_error(Errc::kInternal, "store group commit ended without a begin");
  Group group = std::move(*group_);
  group_.reset();
  // Synced before the lock is released: no other process sees a record of the group that a
  // power loss could still take away.
  if (group.unsynced)
    return RecordLog(records_path(path_)).sync(group.created);
  return {};
}

Result<void> EncryptedStore::drop_records(const std::string& stream,
                                          const std::string& through_seq) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  return RecordLog(records_path(path_)).drop(stream, through_seq);
}

template <class F>
Result<void> EncryptedStore::mutate(F&& change) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  HSMCTL_TRY_ASSIGN(const StoreData* loaded, load_unlocked());
  StoreData data = *loaded;  // a failed change leaves the merged view as it is
  const std::string now = now_rfc3339();
  Result<bool> changed = change(data, now);
  if (!changed)
    return tl::unexpected(changed.error());
  if (!*changed)
    return {};
  StoreDelta delta = diff_store(*loaded, data);
  if (delta.empty())
    return {};
  return append_delta(std::move(delta));
}

template <class F>
Result<void> EncryptedStore::mutate_part(const std::string* entry_id, F&& change) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  HSMCTL_TRY_ASSIGN(const StoreData* loaded, load_unlocked());
  // Only what the change may touch is copied and compared (the entry, the journals), not the
  // whole store: with a fleet's thousands of entries a copy per update made apply quadratic.
  StoreData before;
  before.generation = loaded->generation;
  before.modified = loaded->modified;
  if (entry_id != nullptr) {
    if (const Entry* e = loaded->find(*entry_id))
      before.entries.push_back(*e);
  }
  before.journals = loaded->journals;
  StoreData data = before;
  const std::string now = now_rfc3339();
  Result<bool> changed = change(data, now);
  if (!changed)
    return tl::unexpected(changed.error());
  if (!*changed)
    return {};
  StoreDelta delta = diff_store(before, data);
  if (delta.empty())
    return {};
  return append_delta(std::move(delta));
}

template <class F>
auto EncryptedStore::read(F&& reader) -> decltype(reader(std::declval<const StoreData&>())) {
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(false));
  HSMCTL_TRY_ASSIGN(const StoreData* data, load_unlocked());
  return reader(*data);
}

Result<std::uint64_t> EncryptedStore::generation() {
  return read([](const StoreData& d) -> Result<std::uint64_t> { return d.generation; });
}

Result<std::optional<Secret>> EncryptedStore::current(const CredentialKey& key) {
  return read([&](const StoreData& d) -> Result<std::optional<Secret>> {
    const Entry* e = d.find(key.id());
    if (e == nullptr)
      return std::optional<Secret>{};
    return e->current;
  });
}

Result<std::optional<Secret>> EncryptedStore::pending(const CredentialKey& key) {
  return read([&](const StoreData& d) -> Result<std::optional<Secret>> {
    const Entry* e = d.find(key.id());
    if (e == nullptr)
      return std::optional<Secret>{};
    return e->pending;
  });
}

Result<void> EncryptedStore::stage(const CredentialKey& key, const Secret& value) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry* existing = d.find(key.id());
    if (existing != nullptr && existing->pending) {
      if (existing->pending->equals(value))
        return false;  // already staged, already durable
      return make_error(Errc::kStore, "an unresolved pending value already exists for " + key.id() +
                                          "; resolve it (apply resumes it) before staging another");
    }
    Entry& e = d.upsert(key.device, key.name, now);
    e.pending = value;
    return true;
  });
}

Result<void> EncryptedStore::commit(const CredentialKey& key) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry* e = d.find(key.id());
    if (e == nullptr || !e->pending) {
      return make_error(Errc::kStore, "nothing pending to commit for " + key.id());
    }
    e->current = std::move(e->pending);
    e->pending.reset();
    e->updated = now;
    return true;
  });
}

Result<void> EncryptedStore::discard(const CredentialKey& key) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry* e = d.find(key.id());
    if (e == nullptr || !e->pending)
      return false;
    e->pending.reset();
    e->updated = now;
    if (!e->current && e->metadata.empty())
      d.erase(key.id());
    return true;
  });
}

Result<void> EncryptedStore::record_current(const CredentialKey& key, const Secret& value) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry& e = d.upsert(key.device, key.name, now);
    e.current = value;
    e.pending.reset();
    return true;
  });
}

Result<std::vector<EntryInfo>> EncryptedStore::list() {
  return read([](const StoreData& d) -> Result<std::vector<EntryInfo>> {
    std::vector<EntryInfo> out;
    out.reserve(d.entries.size());
    for (const auto& e : d.entries)
      out.push_back(info_of(e));
    std::sort(out.begin(), out.end(),
              [](const EntryInfo& a, const EntryInfo& b) { return a.id < b.id; });
    return out;
  });
}

Result<std::optional<Entry>> EncryptedStore::get(const CredentialKey& key) {
  return read([&](const StoreData& d) -> Result<std::optional<Entry>> {
    const Entry* e = d.find(key.id());
    if (e == nullptr)
      return std::optional<Entry>{};
    return std::optional<Entry>(*e);
  });
}

Result<void> EncryptedStore::set(const CredentialKey& key, const Secret& value,
                                 const std::map<std::string, std::string>& metadata) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry* existing = d.find(key.id());
    if (existing != nullptr && existing->pending) {
      return make_error(Errc::kStore, key.id() +
                                          " has an unresolved pending value; refusing to "
                                          "overwrite it (resolve it with apply, or rm the entry)");
    }
    Entry& e = d.upsert(key.device, key.name, now);
    e.current = value;
    for (const auto& [k, v] : metadata)
      e.metadata[k] = v;
    return true;
  });
}

Result<void> EncryptedStore::set_metadata(const CredentialKey& key, const std::string& field,
                                          const std::string& value) {
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Entry* e = d.find(key.id());
    if (e == nullptr)
      return no_entry(key);
    e->metadata[field] = value;
    e->updated = now;
    return true;
  });
}

Result<std::optional<std::string>> EncryptedStore::fact(const CredentialKey& key,
                                                        const std::string& field) {
  HSMCTL_TRY_ASSIGN(auto entry, get(key));
  if (!entry)
    return std::nullopt;
  auto it = entry->metadata.find(field);
  if (it == entry->metadata.end())
    return std::nullopt;
  return it->second;
}

Result<void> EncryptedStore::record_fact(const CredentialKey& key, const std::string& field,
                                         const std::string& value) {
  HSMCTL_TRY_ASSIGN(auto known, fact(key, field));
  if (known && *known == value)
    return {};  // no write when nothing changes
  HSMCTL_TRY_ASSIGN(auto entry, get(key));
  if (!entry)
    return {};
  return set_metadata(key, field, value);
}

Result<void> EncryptedStore::rm(const CredentialKey& key) {
  // Records about the entry kept in the log beside the store (a value a device rejected, not
  // yet folded into the entry) go with it: removing the entry must forget them too. Dropped
  // first, so a crash in between leaves the entry for a second `rm`.
  bool had_records = false;
  HSMCTL_TRY_ASSIGN(auto fp_key, fingerprint_key(*this, false));
  if (fp_key) {
    const std::string stream = record_stream(*fp_key, key);
    HSMCTL_TRY_ASSIGN(auto held, records(stream));
    if (!held.empty()) {
      had_records = true;
      HSMCTL_TRY(drop_records(stream, ""));
    }
  }
  const std::string id = key.id();
  return mutate_part(&id, [&](StoreData& d, const std::string&) -> Result<bool> {
    if (!d.erase(key.id())) {
      if (had_records)
        return false;
      return no_entry(key);
    }
    return true;
  });
}

Result<void> EncryptedStore::change_key(std::shared_ptr<KeySource> new_keys, KeyMode new_mode) {
  if (new_mode == KeyMode::kPassphrase) {
    HSMCTL_TRY(check_scrypt_params(options_.scrypt, options_.allow_weak_kdf_for_tests));
  }
  HSMCTL_TRY_ASSIGN(auto lock, lock_for_call(true));
  HSMCTL_TRY_ASSIGN(const StoreData* loaded, load_unlocked());
  StoreData data = *loaded;  // the log's changes included: the new file holds them all
  HSMCTL_TRY_ASSIGN(StoreHeader header, new_header(new_mode, options_.scrypt));
  HSMCTL_TRY_ASSIGN(Secret material, new_keys->material(new_mode, /*creating=*/true));
  HSMCTL_TRY_ASSIGN(Secret kek, derive_kek(header, material));
  StoreHeader old_header = header_;
  std::optional<Secret> old_kek = std::move(kek_);
  header_ = header;
  kek_ = std::move(kek);
  auto saved = save(data);
  if (!saved) {
    header_ = old_header;  // the old file is untouched (atomic replace failed)
    kek_ = std::move(old_kek);
    return saved;
  }
  keys_ = std::move(new_keys);
  return {};
}

Result<void> EncryptedStore::export_to(const std::string& file, KeySource& backup_keys,
                                       KeyMode mode, bool overwrite) {
  if (!overwrite && file_exists(file)) {
    return make_error(Errc::kStore, file + " already exists; refusing to overwrite it");
  }
  if (mode == KeyMode::kPassphrase) {
    HSMCTL_TRY(check_scrypt_params(options_.scrypt, options_.allow_weak_kdf_for_tests));
  }
  HSMCTL_TRY_ASSIGN(StoreData data, read([](const StoreData& d) -> Result<StoreData> {
                      StoreData copy;
                      copy.generation = 0;
                      copy.entries = d.entries;
                      return copy;
                    }));
  HSMCTL_TRY_ASSIGN(StoreHeader header, new_header(mode, options_.scrypt));
  HSMCTL_TRY_ASSIGN(Secret material, backup_keys.material(mode, /*creating=*/true));
  HSMCTL_TRY_ASSIGN(Secret kek, derive_kek(header, material));
  data.generation = 1;
  data.modified = now_rfc3339();
  HSMCTL_TRY_ASSIGN(Secret plain, serialize_payload(data));
  HSMCTL_TRY_ASSIGN(Bytes bytes, seal_file(header, kek, plain.bytes()));
  return write_file_atomically(file, bytes, 0600);
}

Result<ImportSummary> EncryptedStore::import_from(const std::string& file, KeySource& backup_keys,
                                                  bool overwrite) {
  HSMCTL_TRY_ASSIGN(Bytes bytes, read_file(file));
  auto backup = decrypt_store_bytes(bytes, backup_keys);
  if (!backup)
    return tl::unexpected(format_error_to_error(backup.error(), file));
  ImportSummary summary;
  HSMCTL_TRY(mutate([&](StoreData& d, const std::string& now) -> Result<bool> {
    summary = ImportSummary{};
    std::vector<std::string> conflicts;
    for (const auto& incoming : backup->entries) {
      const Entry* existing = d.find(incoming.id());
      if (existing != nullptr && !(same_value(existing->current, incoming.current) &&
                                   same_value(existing->pending, incoming.pending))) {
        conflicts.push_back(incoming.id());
      }
    }
    if (!conflicts.empty() && !overwrite) {
      std::string names;
      for (const auto& c : conflicts)
        names += (names.empty() ? "" : ", ") + c;
      return make_error(Errc::kStore, "backup entries differ from the store: " + names +
                                          " (use --overwrite to replace them)");
    }
    for (const auto& incoming : backup->entries) {
      Entry* existing = d.find(incoming.id());
      if (existing == nullptr) {
        d.entries.push_back(incoming);
        d.entries.back().updated = now;
        ++summary.added;
      } else if (same_value(existing->current, incoming.current) &&
                 same_value(existing->pending, incoming.pending)) {
        ++summary.unchanged;
      } else {
        *existing = incoming;
        existing->updated = now;
        ++summary.replaced;
      }
    }
    return summary.added + summary.replaced > 0;
  }));
  return summary;
}

Result<std::string> EncryptedStore::journal_begin(const std::string& device,
                                                  const std::string& plan_summary) {
  HSMCTL_TRY_ASSIGN(Bytes rnd, crypto::random_bytes(8));
  const std::string id = to_hex(rnd);
  HSMCTL_TRY(mutate_part(nullptr, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Journal j;
    j.id = id;
    j.device = device;
    j.plan_summary = plan_summary;
    j.started = now;
    j.updated = now;
    d.journals.push_back(std::move(j));
    return true;
  }));
  return id;
}

Result<void> EncryptedStore::journal_step(const std::string& journal_id, const std::string& step,
                                          JournalState state, const std::string& credential) {
  return mutate_part(nullptr, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Journal* j = d.find_journal(journal_id);
    if (j == nullptr)
      return make_error(Errc::kStore, "no apply journal " + journal_id);
    if (!j->is_open())
      return make_error(Errc::kStore, "apply journal " + journal_id + " is closed");
    auto it = std::find_if(j->steps.rbegin(), j->steps.rend(),
                           [&](const JournalStep& s) { return s.step == step; });
    if (it != j->steps.rend()) {
      it->state = state;
      it->updated = now;
      if (!credential.empty())
        it->credential = credential;
    } else {
      j->steps.push_back(JournalStep{step, state, credential, now});
    }
    j->updated = now;
    return true;
  });
}

Result<void> EncryptedStore::journal_end(const std::string& journal_id,
                                         const std::string& outcome) {
  return mutate_part(nullptr, [&](StoreData& d, const std::string& now) -> Result<bool> {
    Journal* j = d.find_journal(journal_id);
    if (j == nullptr)
      return make_error(Errc::kStore, "no apply journal " + journal_id);
    j->ended = now;
    j->updated = now;
    j->outcome = outcome;
    // Keep the newest closed journals for `store journal`-style explanations; drop older ones.
    std::size_t closed = 0;
    for (auto it = d.journals.rbegin(); it != d.journals.rend(); ++it) {
      if (!it->is_open())
        ++closed;
    }
    while (closed > kKeptClosedJournals) {
      auto oldest = std::find_if(d.journals.begin(), d.journals.end(),
                                 [](const Journal& x) { return !x.is_open(); });
      d.journals.erase(oldest);
      --closed;
    }
    return true;
  });
}

Result<std::vector<Journal>> EncryptedStore::open_journals() {
  return read([](const StoreData& d) -> Result<std::vector<Journal>> {
    std::vector<Journal> out;
    for (const auto& j : d.journals) {
      if (j.is_open())
        out.push_back(j);
    }
    return out;
  });
}

Result<std::vector<Journal>> EncryptedStore::journals() {
  return read([](const StoreData& d) -> Result<std::vector<Journal>> { return d.journals; });
}

FormatResult<StoreData> decrypt_store_bytes(ByteView file, KeySource& keys) {
  auto header = parse_header(file);
  if (!header)
    return tl::unexpected(header.error());
  auto material = keys.material(header->mode(), false);
  if (!material) {
    return tl::unexpected(FormatError{FailureKind::kWrongKey, material.error().message});
  }
  auto kek = derive_kek(*header, *material);
  if (!kek)
    return tl::unexpected(FormatError{FailureKind::kWrongKey, kek.error().message});
  HSMCTL_TRY_ASSIGN(Secret plain, open_file(file, *header, *kek));
  return parse_payload(plain);
}

}  // namespace hsmctl::store
