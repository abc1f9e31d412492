// SPDX-License-Identifier: Apache-2.0
#pragma once
// A CredentialKeeper (and its ApplyJournal) shared by the threads of one process: every call is
// forwarded to the wrapped keeper under one mutex. The wrapped keepers keep per-process caches
// (the store's snapshot and log view) and are not thread-safe themselves; between processes the
// store's file lock still serializes every read-modify-write.

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/store/journal.hpp"

#include <mutex>

namespace hsmctl::store {

class SerializedKeeper final : public CredentialKeeper, public ApplyJournal {
 public:
  /// `inner` must outlive this object.
  explicit SerializedKeeper(CredentialKeeper& inner) : inner_(inner) {}

  Result<std::optional<Secret>> current(const CredentialKey& key) override;
  Result<std::optional<Secret>> pending(const CredentialKey& key) override;
  Result<void> stage(const CredentialKey& key, const Secret& value) override;
  Result<void> commit(const CredentialKey& key) override;
  Result<void> discard(const CredentialKey& key) override;
  Result<void> record_current(const CredentialKey& key, const Secret& value) override;
  bool durable() const override;
  Result<std::optional<std::string>> fact(const CredentialKey& key,
                                          const std::string& field) override;
  Result<void> record_fact(const CredentialKey& key, const std::string& field,
                           const std::string& value) override;
  Result<std::vector<LogRecord>> records(const std::string& stream) override;
  Result<std::string> append_record(const std::string& stream, const std::string& text,
                                    bool durable = true) override;
  Result<void> drop_records(const std::string& stream, const std::string& through_seq) override;
  /// This object when the wrapped keeper keeps a journal (each call serialized too).
  ApplyJournal* journal() override;

  Result<std::string> journal_begin(const std::string& device,
                                    const std::string& plan_summary) override;
  Result<void> journal_step(const std::string& journal_id, const std::string& step,
                            JournalState state, const std::string& credential = {}) override;
  Result<void> journal_end(const std::string& journal_id,
                           const std::string& outcome = "applied") override;
  Result<std::vector<Journal>> open_journals() override;

 private:
  ApplyJournal& inner_journal();

  CredentialKeeper& inner_;
  mutable std::recursive_mutex mutex_;
};

}  // namespace hsmctl::store
