// SPDX-License-Identifier: Apache-2.0
#pragma once
// `--store none`: a CredentialKeeper (and apply journal) that lives only in this process.
// Nothing survives the process: a generated or rotated credential is printed nowhere and stored
// nowhere, so rotations need the current value from the manifest's secret reference, and a
// crash between sending a change and the end of the run loses the new value. Use it only when
// the operator keeps the credentials elsewhere.

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/store/journal.hpp"

#include <map>
#include <string>
#include <vector>

namespace hsmctl::store {

class EphemeralKeeper final : public CredentialKeeper, public ApplyJournal {
 public:
  /// `stands_in_for_a_store`: a plan before the first apply has no store yet, but the apply it
  /// describes will create one, so records made then are durable (`--store none`: false).
  explicit EphemeralKeeper(bool stands_in_for_a_store = false)
      : stands_in_for_a_store_(stands_in_for_a_store) {}

  Result<std::optional<Secret>> current(const CredentialKey& key) override;
  Result<std::optional<Secret>> pending(const CredentialKey& key) override;
  /// Same refusal as EncryptedStore when a different value is already pending.
  Result<void> stage(const CredentialKey& key, const Secret& value) override;
  Result<void> commit(const CredentialKey& key) override;
  Result<void> discard(const CredentialKey& key) override;
  Result<void> record_current(const CredentialKey& key, const Secret& value) override;
  bool durable() const override { return stands_in_for_a_store_; }
  Result<std::optional<std::string>> fact(const CredentialKey& key,
                                          const std::string& field) override;
  Result<void> record_fact(const CredentialKey& key, const std::string& field,
                           const std::string& value) override;
  ApplyJournal* journal() override { return this; }

  Result<std::string> journal_begin(const std::string& device,
                                    const std::string& plan_summary) override;
  Result<void> journal_step(const std::string& journal_id, const std::string& step,
                            JournalState state, const std::string& credential = {}) override;
  Result<void> journal_end(const std::string& journal_id,
                           const std::string& outcome = "applied") override;
  Result<std::vector<Journal>> open_journals() override;

 private:
  bool stands_in_for_a_store_ = false;
  struct Values {
    std::optional<Secret> current;
    std::optional<Secret> pending;
    std::map<std::string, std::string> facts;
  };
  std::map<std::string, Values> values_;
  std::vector<Journal> journals_;
  int next_journal_ = 1;
};

}  // namespace hsmctl::store
