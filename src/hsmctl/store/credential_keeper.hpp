// SPDX-License-Identifier: Apache-2.0
#pragma once
// What apply needs from the credential store: the value a device currently holds, and the
// two-phase protocol that makes every credential change durable before it is sent.
//
//   stage(key, new)   -> new value is on disk as *pending* next to the current one
//   <send the command to the device>
//   commit(key)       -> pending becomes current      (device answered success)
//   discard(key)      -> pending dropped              (device definitely refused)
//   (neither)         -> both kept; the next run resolves it without guessing
//
// Implemented by store::EncryptedStore (the real store) and store::EphemeralKeeper
// (`--store none`: nothing survives the process; rotations then need the current value).

#include "hsmctl/store/record_log.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::store {

class ApplyJournal;

/// Names one credential: the device ("pico:E6614C311B4A2B21") and what it is ("user-pin",
/// "so-pin"), or a free-form entry for store:NAME references (device empty).
struct CredentialKey {
  std::string device;
  std::string name;
  std::string id() const { return device.empty() ? name : device + "/" + name; }
};

class CredentialKeeper {
 public:
  virtual ~CredentialKeeper() = default;

  virtual Result<std::optional<Secret>> current(const CredentialKey& key) = 0;
  virtual Result<std::optional<Secret>> pending(const CredentialKey& key) = 0;
  /// Durably records `value` as pending. Must be on stable storage when this returns.
  virtual Result<void> stage(const CredentialKey& key, const Secret& value) = 0;
  /// Pending becomes current (the device accepted it).
  virtual Result<void> commit(const CredentialKey& key) = 0;
  /// Pending is dropped (the device definitely refused it).
  virtual Result<void> discard(const CredentialKey& key) = 0;
  /// Records a value the device was seen to accept (a successful VERIFY), as current.
  virtual Result<void> record_current(const CredentialKey& key, const Secret& value) = 0;

  /// False when nothing recorded here survives the process (`--store none`): callers that
  /// rely on a record to never resend a rejected value must not send one.
  virtual bool durable() const { return true; }

  /// A non-secret fact recorded about a credential, e.g. "retries_max" of a user PIN; nullopt
  /// when unknown. Keepers that cannot hold facts keep none.
  virtual Result<std::optional<std::string>> fact(const CredentialKey& /*key*/,
                                                  const std::string& /*field*/) {
    return std::nullopt;
  }
  /// Records a fact on an existing entry (no-op when there is no entry).
  virtual Result<void> record_fact(const CredentialKey& /*key*/, const std::string& /*field*/,
                                   const std::string& /*value*/) {
    return {};
  }

  /// Short non-secret records appended under `stream` (an opaque name without spaces), oldest
  /// first. Appending does not rewrite the store: a record that must be on disk before a device
  /// command costs one small synced append (EncryptedStore keeps them in "<store>.records",
  /// store/record_log.hpp). The default keeps them in an entry of this keeper.
  virtual Result<std::vector<LogRecord>> records(const std::string& stream);
  /// Appends a record (one line, no secret) and returns its seq. With `durable`, it is on stable
  /// storage when this returns; otherwise a power loss may drop it (a later durable append to
  /// the same log makes it durable too).
  virtual Result<std::string> append_record(const std::string& stream, const std::string& text,
                                            bool durable = true);
  /// Drops the records of `stream` up to and including `through_seq` (after the caller folded
  /// them into an entry).
  virtual Result<void> drop_records(const std::string& stream, const std::string& through_seq);

  /// Group commit (store::SerializedKeeper): the calls between begin_group() and end_group()
  /// may leave their records unsynced (under the keeper's lock, which the group holds);
  /// end_group() makes all of them durable at once and releases the lock. A caller of such a
  /// call must not rely on it before end_group() succeeded; when it fails, none of the group's
  /// calls may be taken as durable. Default: nothing to do (every call is durable on its own).
  virtual Result<void> begin_group() { return {}; }
  virtual Result<void> end_group() { return {}; }

  /// The apply journal kept next to the credentials, or nullptr when this keeper keeps none.
  virtual ApplyJournal* journal() { return nullptr; }
};

}  // namespace hsmctl::store
