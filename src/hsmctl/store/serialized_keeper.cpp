// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/serialized_keeper.hpp"

namespace hsmctl::store {

using Lock = std::lock_guard<std::recursive_mutex>;

Result<std::optional<Secret>> SerializedKeeper::current(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.current(key);
}

Result<std::optional<Secret>> SerializedKeeper::pending(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.pending(key);
}

Result<void> SerializedKeeper::stage(const CredentialKey& key, const Secret& value) {
  Lock lock(mutex_);
  return inner_.stage(key, value);
}

Result<void> SerializedKeeper::commit(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.commit(key);
}

Result<void> SerializedKeeper::discard(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.discard(key);
}

Result<void> SerializedKeeper::record_current(const CredentialKey& key, const Secret& value) {
  Lock lock(mutex_);
  return inner_.record_current(key, value);
}

bool SerializedKeeper::durable() const {
  Lock lock(mutex_);
  return inner_.durable();
}

Result<std::optional<std::string>> SerializedKeeper::fact(const CredentialKey& key,
                                                          const std::string& field) {
  Lock lock(mutex_);
  return inner_.fact(key, field);
}

Result<void> SerializedKeeper::record_fact(const CredentialKey& key, const std::string& field,
                                           const std::string& value) {
  Lock lock(mutex_);
  return inner_.record_fact(key, field, value);
}

Result<std::vector<LogRecord>> SerializedKeeper::records(const std::string& stream) {
  Lock lock(mutex_);
  return inner_.records(stream);
}

Result<std::string> SerializedKeeper::append_record(const std::string& stream,
                                                    const std::string& text, bool durable) {
  Lock lock(mutex_);
  return inner_.append_record(stream, text, durable);
}

Result<void> SerializedKeeper::drop_records(const std::string& stream,
                                            const std::string& through_seq) {
  Lock lock(mutex_);
  return inner_.drop_records(stream, through_seq);
}

ApplyJournal* SerializedKeeper::journal() {
  Lock lock(mutex_);
  return inner_.journal() != nullptr ? this : nullptr;
}

ApplyJournal& SerializedKeeper::inner_journal() {
  // Only reached through journal(), which returns this only when the inner keeper has one.
  return *inner_.journal();
}

Result<std::string> SerializedKeeper::journal_begin(const std::string& device,
                                                    const std::string& plan_summary) {
  Lock lock(mutex_);
  return inner_journal().journal_begin(device, plan_summary);
}

Result<void> SerializedKeeper::journal_step(const std::string& journal_id, const std::string& step,
                                            JournalState state, const std::string& credential) {
  Lock lock(mutex_);
  return inner_journal().journal_step(journal_id, step, state, credential);
}

Result<void> SerializedKeeper::journal_end(const std::string& journal_id,
                                           const std::string& outcome) {
  Lock lock(mutex_);
  return inner_journal().journal_end(journal_id, outcome);
}

Result<std::vector<Journal>> SerializedKeeper::open_journals() {
  Lock lock(mutex_);
  return inner_journal().open_journals();
}

}  // namespace hsmctl::store
