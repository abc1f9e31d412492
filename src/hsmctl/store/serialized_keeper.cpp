// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/serialized_keeper.hpp"

#include <exception>
#include <optional>
#include <utility>

namespace hsmctl::store {

using Lock = std::lock_guard<std::recursive_mutex>;

void SerializedKeeper::write(Call& call) {
  if (leader_.load() == std::this_thread::get_id()) {
    call.run();  // a call made from inside a group's call (same thread): part of that group
    return;
  }
  std::unique_lock<std::mutex> queue_lock(queue_mutex_);
  queue_.push_back(&call);
  queue_cv_.notify_all();  // a test may wait for calls to meet (queued())
  while (!call.done) {
    if (leading_) {
      queue_cv_.wait(queue_lock);
      continue;
    }
    // Lead one group: every call queued by now, ours among them.
    leading_ = true;
    std::vector<Call*> group;
    group.swap(queue_);
    queue_lock.unlock();
    {
      Lock lock(mutex_);
      leader_.store(std::this_thread::get_id());
      auto began = inner_.begin_group();
      if (!began) {
        for (Call* c : group)
          c->fail(began.error());
      } else {
        for (Call* c : group) {
          try {
            c->run();
          } catch (const std::exception& e) {
            c->fail(
                make_error(Errc::kInternal, std::string("store call failed: ") + e.what()).value());
          }
        }
        // Every call of the group is durable only now; until this returns, none of their
        // callers has returned (they wait below), so no device command relies on a record
        // that could still be lost.
        auto ended = inner_.end_group();
        if (!ended) {
          for (Call* c : group)
            c->fail(ended.error());
        }
      }
      leader_.store(std::thread::id{});
    }
    queue_lock.lock();
    ++groups_;
    grouped_calls_ += group.size();
    for (Call* c : group)
      c->done = true;
    leading_ = false;
    queue_cv_.notify_all();
  }
}

template <class T, class F>
Result<T> SerializedKeeper::grouped(F&& op) {
  std::optional<Result<T>> result;
  Call call;
  call.run = [&] { result.emplace(op()); };
  call.fail = [&](const Error& e) {
    if (!result || *result)
      result.emplace(tl::unexpected(e));
  };
  write(call);
  if (!result)
    return make_error(Errc::kInternal, "store call was not run");
  return std::move(*result);
}

std::size_t SerializedKeeper::groups() const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return groups_;
}

std::size_t SerializedKeeper::grouped_calls() const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return grouped_calls_;
}

std::size_t SerializedKeeper::queued() const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return queue_.size();
}

Result<std::optional<Secret>> SerializedKeeper::current(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.current(key);
}

Result<std::optional<Secret>> SerializedKeeper::pending(const CredentialKey& key) {
  Lock lock(mutex_);
  return inner_.pending(key);
}

Result<void> SerializedKeeper::stage(const CredentialKey& key, const Secret& value) {
  return grouped<void>([&] { return inner_.stage(key, value); });
}

Result<void> SerializedKeeper::commit(const CredentialKey& key) {
  return grouped<void>([&] { return inner_.commit(key); });
}

Result<void> SerializedKeeper::discard(const CredentialKey& key) {
  return grouped<void>([&] { return inner_.discard(key); });
}

Result<void> SerializedKeeper::record_current(const CredentialKey& key, const Secret& value) {
  return grouped<void>([&] { return inner_.record_current(key, value); });
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
  return grouped<void>([&] { return inner_.record_fact(key, field, value); });
}

Result<std::vector<LogRecord>> SerializedKeeper::records(const std::string& stream) {
  Lock lock(mutex_);
  return inner_.records(stream);
}

Result<std::string> SerializedKeeper::append_record(const std::string& stream,
                                                    const std::string& text, bool durable) {
  return grouped<std::string>([&] { return inner_.append_record(stream, text, durable); });
}

Result<void> SerializedKeeper::drop_records(const std::string& stream,
                                            const std::string& through_seq) {
  return grouped<void>([&] { return inner_.drop_records(stream, through_seq); });
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
  return grouped<std::string>([&] { return inner_journal().journal_begin(device, plan_summary); });
}

Result<void> SerializedKeeper::journal_step(const std::string& journal_id, const std::string& step,
                                            JournalState state, const std::string& credential) {
  return grouped<void>(
      [&] { return inner_journal().journal_step(journal_id, step, state, credential); });
}

Result<void> SerializedKeeper::journal_end(const std::string& journal_id,
                                           const std::string& outcome) {
  return grouped<void>([&] { return inner_journal().journal_end(journal_id, outcome); });
}

Result<std::vector<Journal>> SerializedKeeper::open_journals() {
  Lock lock(mutex_);
  return inner_journal().open_journals();
}

}  // namespace hsmctl::store
