// SPDX-License-Identifier: Apache-2.0
#pragma once
// An append-only file of short non-secret records kept beside the credential store
// ("<store>.records"), so that a record which must be on disk before a device command (the
// fingerprint of a PIN about to be verified) costs one small synced append instead of a rewrite
// of the whole encrypted store. Lines are "r1 <stream> <seq> <text> <check>": `stream` is an opaque
// name chosen by the caller (a keyed hash, so the file names no device), `seq` is random and
// identifies the line, `check` is FNV-1a of the rest (a line torn by a power loss never parses).
// The caller holds the store's lock; the file is created 0600 and refused
// when accessible by others, like the store.

#include "hsmctl/util/error.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hsmctl::store {

struct LogRecord {
  std::string seq;
  std::string text;
};

/// What a reader has parsed of the log: between rewrites the file only grows, so a refresh reads
/// only the bytes appended since (a fleet plan reads the log once, not once per device).
struct RecordLogView {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t consumed = 0;  ///< bytes of complete lines parsed
  std::map<std::string, std::vector<LogRecord>> streams;
};

class RecordLog {
 public:
  explicit RecordLog(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  /// The records of `stream`, oldest first. A missing file holds none; a line that does not
  /// parse (a torn append after a power loss) is skipped.
  Result<std::vector<LogRecord>> read(const std::string& stream) const;
  /// Brings `view` up to date with the file: reads what was appended since, or everything when
  /// the file was replaced (a drop) or is new to `view`.
  Result<void> refresh(RecordLogView& view) const;
  /// Appends one record and returns its seq; on stable storage when this returns if `sync`.
  /// `created` (if given) is set when this append created the file (whose directory entry a
  /// later sync() must then make durable too).
  Result<std::string> append(const std::string& stream, const std::string& text, bool sync,
                             bool* created = nullptr);
  /// Makes every line appended so far durable (`fdatasync`), and the file's directory entry
  /// when `directory` (the file was created since the last sync). One sync for any number of
  /// unsynced appends: the group commit of store::SerializedKeeper. A missing file holds
  /// nothing to sync.
  Result<void> sync(bool directory);
  /// Removes the records of `stream` up to and including the one with `through_seq` (all of
  /// them when it is absent); durable. Other streams' records are kept.
  Result<void> drop(const std::string& stream, const std::string& through_seq);
  /// Removes the file (a new store starts without records).
  Result<void> remove();

 private:
  std::string path_;
};

}  // namespace hsmctl::store
