// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/ephemeral_keeper.hpp"

#include <gtest/gtest.h>

#include "store_test_support.hpp"

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
  ASSERT_TRUE(keeper.journal_step(*id, "change user-pin", JournalState::kSending, "pico:1/user-pin"));
  ASSERT_EQ(keeper.open_journals()->size(), 1u);
  EXPECT_EQ((*keeper.open_journals())[0].last_state_for("pico:1/user-pin"), JournalState::kSending);
  ASSERT_TRUE(keeper.journal_end(*id));
  EXPECT_TRUE(keeper.open_journals()->empty());
  EXPECT_FALSE(keeper.journal_step(*id, "x", JournalState::kIntent));
}

}  // namespace
}  // namespace hsmctl::store
