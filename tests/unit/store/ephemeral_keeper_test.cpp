// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/ephemeral_keeper.hpp"

#include "store_test_support.hpp"

#include <gtest/gtest.h>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

TEST(StoreEphemeral, TwoPhaseProtocolInMemory) {
  EphemeralKeeper keeper;
  const CredentialKey key{"pico:1", "user-pin"};
  EXPECT_FALSE(keeper.current(key)->has_value());
  ASSERT_TRUE(keeper.record_current(key, Secret(std::string_view(kPinA))));
  ASSERT_TRUE(keeper.stage(key, Secret(std::string_view(kPinB))));
  EXPECT_FALSE(keeper.stage(key, Secret(std::string_view(kSoPin))));
  EXPECT_EQ((*keeper.pending(key))->view(), kPinB);
  ASSERT_TRUE(keeper.commit(key));
  EXPECT_EQ((*keeper.current(key))->view(), kPinB);
  EXPECT_FALSE(keeper.pending(key)->has_value());
  EXPECT_FALSE(keeper.commit(key));
  ASSERT_TRUE(keeper.stage(key, Secret(std::string_view(kPinA))));
  ASSERT_TRUE(keeper.discard(key));
  EXPECT_EQ((*keeper.current(key))->view(), kPinB);
}

TEST(StoreEphemeral, NothingSurvivesANewInstance) {
  const CredentialKey key{"pico:1", "so-pin"};
  {
    EphemeralKeeper keeper;
    ASSERT_TRUE(keeper.record_current(key, Secret(std::string_view(kSoPin))));
  }
  EphemeralKeeper fresh;
  EXPECT_FALSE(fresh.current(key)->has_value());
}

TEST(StoreEphemeral, Journal) {
  EphemeralKeeper keeper;
  auto id = keeper.journal_begin("pico:1", "summary");
  ASSERT_TRUE(id);
  ASSERT_TRUE(
      keeper.journal_step(*id, "change user-pin", JournalState::kSending, "pico:1/user-pin"));
  ASSERT_EQ(keeper.open_journals()->size(), 1u);
  EXPECT_EQ((*keeper.open_journals())[0].last_state_for("pico:1/user-pin"), JournalState::kSending);
  ASSERT_TRUE(keeper.journal_end(*id));
  EXPECT_TRUE(keeper.open_journals()->empty());
  EXPECT_FALSE(keeper.journal_step(*id, "x", JournalState::kIntent));
}

}  // namespace
}  // namespace hsmctl::store

#include "hsmctl/store/open.hpp"

namespace hsmctl::store {
namespace {

TEST(StoreOpenKeeper, NoneIsEphemeralAndMissingIsUnavailableOrCreated) {
  using namespace hsmctl::store::testing;
  UnlockOptions unlock;
  unlock.allow_prompt = false;
  auto none = open_keeper("none", unlock, false);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->encrypted, nullptr);
  ASSERT_NE(none->journal, nullptr);
  EXPECT_TRUE(none->keeper->current({"d", "n"})->has_value() == false);

  TempDir dir;
  auto missing = open_keeper(dir.file("s/store.hsmctl"), unlock, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kUnavailable);

  unlock.key_file = dir.file("k/store.key");
  auto created = open_keeper(dir.file("s/store.hsmctl"), unlock, true);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->created);
  ASSERT_NE(created->encrypted, nullptr);
  EXPECT_EQ(created->encrypted->mode(), KeyMode::kKeyFile);
  ASSERT_TRUE(created->keeper->record_current({"d", "n"}, Secret(std::string_view(kPinA))));
  auto again = open_keeper(dir.file("s/store.hsmctl"), unlock, true);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ((*again->keeper->current({"d", "n"}))->view(), kPinA);
}

}  // namespace
}  // namespace hsmctl::store
