// SPDX-License-Identifier: Apache-2.0
#pragma once
// A CredentialKeeper (and its ApplyJournal) shared by the threads of one process: every call is
// forwarded to the wrapped keeper under one mutex. The wrapped keepers keep per-process caches
// (the store's snapshot and log view) and are not thread-safe themselves; between processes the
// store's file lock still serializes every read-modify-write.
//
// Group commit: the calls that write (stage, commit, discard, record_current, record_fact,
// append_record, drop_records, the journal's) are queued; one waiting thread becomes the leader
// and runs every queued call inside one begin_group()/end_group() of the wrapped keeper (the
// store's lock taken once, its log synced once), then wakes their callers. Each caller returns
// only after the sync that made its own record durable succeeded (a failed sync fails every
// call of its group); calls that arrive while a group syncs form the next group. Reads
// (current, pending, fact, records, open_journals) run directly under the mutex.

#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/store/journal.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

  /// Statistics for tests and benchmarks: groups committed so far, and write calls in them.
  std::size_t groups() const;
  std::size_t grouped_calls() const;
  /// Write calls queued now and not yet taken by a leader (for tests that make calls meet).
  std::size_t queued() const;

 private:
  /// One queued write call: `run` performs it on the wrapped keeper and keeps its result,
  /// `fail` replaces a successful result with the group's sync error.
  struct Call {
    std::function<void()> run;
    std::function<void(const Error&)> fail;
    bool done = false;
  };
  ApplyJournal& inner_journal();
  /// Queues `call` and returns when its group is committed (or failed).
  void write(Call& call);
  template <class T, class F>
  Result<T> grouped(F&& op);

  CredentialKeeper& inner_;
  mutable std::recursive_mutex mutex_;
  mutable std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Call*> queue_;
  bool leading_ = false;
  std::atomic<std::thread::id> leader_{};
  std::size_t groups_ = 0;
  std::size_t grouped_calls_ = 0;
};

}  // namespace hsmctl::store
