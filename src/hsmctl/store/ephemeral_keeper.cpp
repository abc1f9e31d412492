// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/ephemeral_keeper.hpp"

#include "hsmctl/store/payload.hpp"

#include <algorithm>

namespace hsmctl::store {

Result<std::optional<Secret>> EphemeralKeeper::current(const CredentialKey& key) {
  auto it = values_.find(key.id());
  if (it == values_.end())
    return std::optional<Secret>{};
  return it->second.current;
}

Result<std::optional<Secret>> EphemeralKeeper::pending(const CredentialKey& key) {
  auto it = values_.find(key.id());
  if (it == values_.end())
    return std::optional<Secret>{};
  return it->second.pending;
}

Result<void> EphemeralKeeper::stage(const CredentialKey& key, const Secret& value) {
  Values& v = values_[key.id()];
  if (v.pending && !v.pending->equals(value)) {
    return make_error(Errc::kStore, "an unresolved pending value already exists for " + key.id());
  }
  v.pending = value;
  return {};
}

Result<void> EphemeralKeeper::commit(const CredentialKey& key) {
  auto it = values_.find(key.id());
  if (it == values_.end() || !it->second.pending) {
    return make_error(Errc::kStore, "nothing pending to commit for " + key.id());
  }
  it->second.current = std::move(it->second.pending);
  it->second.pending.reset();
  return {};
}

Result<void> EphemeralKeeper::discard(const CredentialKey& key) {
  auto it = values_.find(key.id());
  if (it != values_.end())
    it->second.pending.reset();
  return {};
}

Result<void> EphemeralKeeper::record_current(const CredentialKey& key, const Secret& value) {
  Values& v = values_[key.id()];
  v.current = value;
  v.pending.reset();
  return {};
}

Result<std::string> EphemeralKeeper::journal_begin(const std::string& device,
                                                   const std::string& plan_summary) {
  Journal j;
  j.id = "ephemeral-" + std::to_string(next_journal_++);
  j.device = device;
  j.plan_summary = plan_summary;
  j.started = j.updated = now_rfc3339();
  journals_.push_back(j);
  return j.id;
}

Result<void> EphemeralKeeper::journal_step(const std::string& journal_id, const std::string& step,
                                           JournalState state, const std::string& credential) {
  auto j = std::find_if(journals_.begin(), journals_.end(),
                        [&](const Journal& x) { return x.id == journal_id; });
  if (j == journals_.end())
    return make_error(Errc::kStore, "no apply journal " + journal_id);
  if (!j->is_open())
    return make_error(Errc::kStore, "apply journal " + journal_id + " is closed");
  auto s = std::find_if(j->steps.rbegin(), j->steps.rend(),
                        [&](const JournalStep& x) { return x.step == step; });
  const std::string now = now_rfc3339();
  if (s != j->steps.rend()) {
    s->state = state;
    s->updated = now;
    if (!credential.empty())
      s->credential = credential;
  } else {
    j->steps.push_back(JournalStep{step, state, credential, now});
  }
  j->updated = now;
  return {};
}

Result<void> EphemeralKeeper::journal_end(const std::string& journal_id,
                                          const std::string& outcome) {
  auto j = std::find_if(journals_.begin(), journals_.end(),
                        [&](const Journal& x) { return x.id == journal_id; });
  if (j == journals_.end())
    return make_error(Errc::kStore, "no apply journal " + journal_id);
  j->ended = j->updated = now_rfc3339();
  j->outcome = outcome;
  return {};
}

Result<std::vector<Journal>> EphemeralKeeper::open_journals() {
  std::vector<Journal> out;
  for (const auto& j : journals_) {
    if (j.is_open())
      out.push_back(j);
  }
  return out;
}

Result<std::optional<std::string>> EphemeralKeeper::fact(const CredentialKey& key,
                                                         const std::string& field) {
  auto it = values_.find(key.id());
  if (it == values_.end())
    return std::nullopt;
  auto f = it->second.facts.find(field);
  if (f == it->second.facts.end())
    return std::nullopt;
  return f->second;
}

Result<void> EphemeralKeeper::record_fact(const CredentialKey& key, const std::string& field,
                                          const std::string& value) {
  auto it = values_.find(key.id());
  if (it != values_.end())
    it->second.facts[field] = value;
  return {};
}

}  // namespace hsmctl::store
