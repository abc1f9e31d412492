// SPDX-License-Identifier: Apache-2.0
#pragma once
// An append-only file of short non-secret records kept beside the credential store
// ("<store>.records"), so that a record which must be on disk before a device command (the
// fingerprint of a PIN about to be verified) costs one small synced append instead of a rewrite
// of the whole encrypted store. Lines are "r1 <stream> <seq> <text>": `stream` is an opaque
// name chosen by the caller (a keyed hash, so the file names no device), `seq` is random and
// identifies the line. The caller holds the store's lock; the file is created 0600 and refused
// when accessible by others, like the store.

#include "hsmctl/util/error.hpp"

#include <string>
#include <vector>

namespace hsmctl::store {

struct LogRecord {
  std::string seq;
  std::string text;
};

class RecordLog {
 public:
  explicit RecordLog(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  /// The records of `stream`, oldest first. A missing file holds none; a line that does not
  /// parse (a torn append after a power loss) is skipped.
  Result<std::vector<LogRecord>> read(const std::string& stream) const;
  /// Appends one record and returns its seq; on stable storage when this returns if `sync`.
  Result<std::string> append(const std::string& stream, const std::string& text, bool sync);
  /// Removes the records of `stream` up to and including the one with `through_seq` (all of
  /// them when it is absent); durable. Other streams' records are kept.
  Result<void> drop(const std::string& stream, const std::string& through_seq);
  /// Removes the file (a new store starts without records).
  Result<void> remove();

 private:
  std::string path_;
};

}  // namespace hsmctl::store
