// SPDX-License-Identifier: Apache-2.0
// store::SerializedKeeper's group commit (issue 13): write calls that arrive while a group is
// being made durable are committed together in the next group (one begin_group/end_group of the
// wrapped keeper: the store's lock taken once, its log synced once), and every caller returns
// only after the end_group() of its own group succeeded.
#include "hsmctl/store/serialized_keeper.hpp"

#include "store_test_support.hpp"

#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

/// Counts groups and syncs; append_record answers the number of the group it ran in.
class GroupCountingKeeper final : public CredentialKeeper {
 public:
  Result<std::optional<Secret>> current(const CredentialKey&) override { return std::nullopt; }
  Result<std::optional<Secret>> pending(const CredentialKey&) override { return std::nullopt; }
  Result<void> stage(const CredentialKey&, const Secret&) override { return {}; }
  Result<void> commit(const CredentialKey&) override { return {}; }
  Result<void> discard(const CredentialKey&) override { return {}; }
  Result<void> record_current(const CredentialKey&, const Secret&) override { return {}; }

  Result<void> begin_group() override {
    EXPECT_FALSE(in_group_) << "groups overlap";
    in_group_ = true;
    ++begun_;
    calls_in_group_ = 0;
    return {};
  }
  Result<void> end_group() override {
    EXPECT_TRUE(in_group_);
    if (before_sync)
      before_sync(begun_, calls_in_group_);
    in_group_ = false;
    if (fail_sync)
      return make_error(Errc::kIo, "cannot sync the test log");
    synced_.store(begun_);
    return {};
  }
  Result<std::string> append_record(const std::string&, const std::string&, bool) override {
    EXPECT_TRUE(in_group_) << "a write call ran outside a group";
    ++calls_in_group_;
    return std::to_string(begun_);
  }

  int synced() const { return synced_.load(); }
  int begun() const { return begun_; }

  /// Runs inside end_group(), before the "sync": (group number, write calls in it).
  std::function<void(int, int)> before_sync;
  bool fail_sync = false;

 private:
  bool in_group_ = false;
  int begun_ = 0;
  int calls_in_group_ = 0;
  std::atomic<int> synced_{0};
};

bool wait_until(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(SerializedKeeperGroupCommit, CallsArrivingDuringASyncShareTheNextOne) {
  constexpr int kThreads = 8;
  GroupCountingKeeper inner;
  SerializedKeeper keeper(inner);
  // The first group's sync waits until every other call is queued behind it: they must then
  // be committed together, by one more group.
  bool met = false;
  inner.before_sync = [&](int group, int calls) {
    if (group == 1)
      met = wait_until([&] { return static_cast<int>(keeper.queued()) + calls == kThreads; });
  };
  std::vector<std::string> answers(kThreads);
  std::vector<int> synced_at_return(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto seq = keeper.append_record("stream", "record " + std::to_string(t));
      ASSERT_TRUE(seq) << seq.error().message;
      answers[t] = *seq;
      synced_at_return[t] = inner.synced();
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_TRUE(met) << "the other calls never queued behind the first group";
  EXPECT_EQ(inner.begun(), 2);  // one sync for the first call(s), one for all the others
  EXPECT_EQ(keeper.groups(), 2U);
  EXPECT_EQ(keeper.grouped_calls(), static_cast<std::size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    // Each caller returned only after the sync of the group its call ran in.
    EXPECT_GE(synced_at_return[t], std::stoi(answers[t])) << "thread " << t;
  }
}

TEST(SerializedKeeperGroupCommit, AFailedSyncFailsEveryCallOfItsGroup) {
  constexpr int kThreads = 4;
  GroupCountingKeeper inner;
  SerializedKeeper keeper(inner);
  inner.fail_sync = true;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto seq = keeper.append_record("stream", "record");
      if (!seq && seq.error().code == Errc::kIo)
        ++failed;
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failed.load(), kThreads);
  EXPECT_EQ(inner.synced(), 0);
}

TEST(SerializedKeeperGroupCommit, ReadsAreNotQueued) {
  GroupCountingKeeper inner;
  SerializedKeeper keeper(inner);
  ASSERT_TRUE(keeper.current({"pico:1", "user-pin"}));
  ASSERT_TRUE(keeper.records("stream"));
  EXPECT_EQ(keeper.groups(), 0U);
  EXPECT_EQ(inner.begun(), 0);
}

// The real store in a group: the exclusive lock is held from begin_group() to end_group()
// (another process waits), and concurrent threads' two-phase updates all reach the store.
TEST(SerializedKeeperGroupCommit, TheStoreHoldsItsLockForTheGroupAndKeepsEveryUpdate) {
  TempDir dir;
  const std::string path = dir.path() + "/store.hsmctl";
  {
    auto store =
        EncryptedStore::create(path, passphrase(kPassphrase), KeyMode::kPassphrase, weak_options());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->begin_group());
    {
      auto other = FileLock::try_acquire(path + ".lock");
      ASSERT_TRUE(other) << other.error().message;
      EXPECT_FALSE(other->has_value()) << "the group does not hold the store's lock";
    }
    ASSERT_TRUE(store->stage({"pico:G", "user-pin"}, Secret(std::string_view(kPinA))));
    ASSERT_TRUE(store->end_group());
    {
      auto after = FileLock::try_acquire(path + ".lock");
      ASSERT_TRUE(after);
      EXPECT_TRUE(after->has_value()) << "end_group() kept the store's lock";
    }
    EXPECT_FALSE(store->begin_group() && store->begin_group()) << "nested groups accepted";
    ASSERT_TRUE(store->end_group());

    constexpr int kThreads = 6;
    SerializedKeeper keeper(*store);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const CredentialKey key{"pico:T" + std::to_string(t), "user-pin"};
        const Secret value(std::string_view(t % 2 == 0 ? kPinA : kPinB));
        for (int round = 0; round < 5; ++round) {
          if (!keeper.stage(key, value) || !keeper.commit(key))
            return;
          if (!keeper.append_record("stream-" + std::to_string(t), "r" + std::to_string(round)))
            return;
        }
        ++ok;
      });
    }
    for (auto& th : threads)
      th.join();
    ASSERT_EQ(ok.load(), kThreads);
    EXPECT_EQ(keeper.grouped_calls(), static_cast<std::size_t>(kThreads * 15));
  }
  auto reopened = EncryptedStore::open(path, passphrase(kPassphrase), weak_options());
  ASSERT_TRUE(reopened) << reopened.error().message;
  for (int t = 0; t < 6; ++t) {
    const CredentialKey key{"pico:T" + std::to_string(t), "user-pin"};
    auto cur = reopened->current(key);
    ASSERT_TRUE(cur && *cur) << key.id();
    EXPECT_TRUE((*cur)->equals(Secret(std::string_view(t % 2 == 0 ? kPinA : kPinB))));
    auto recs = reopened->records("stream-" + std::to_string(t));
    ASSERT_TRUE(recs);
    EXPECT_EQ(recs->size(), 5U);
  }
  auto pending = reopened->pending({"pico:G", "user-pin"});
  ASSERT_TRUE(pending && *pending);
}

}  // namespace
}  // namespace hsmctl::store
