// SPDX-License-Identifier: Apache-2.0
// Saved plans (reconcile/saved_plan.hpp): the plan key lives in the store, a file written with
// one key is refused under another, and unit_changes() names each changed fact and a changed
// plan.

#include "hsmctl/reconcile/saved_plan.hpp"

#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::reconcile {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

plan::SavedUnit unit() {
  plan::SavedUnit u;
  u.name = "root-ca";
  u.noun = "device";
  u.device_uri = "sim:x.json";
  u.observation = {{"serial", "0102030405060708"}, {"user PIN retry counter", "3"}};
  u.plan.name = "root-ca";
  plan::Action a;
  a.kind = "change-user-pin";
  a.summary = "change user PIN";
  u.plan.actions.push_back(a);
  return u;
}

TEST(SavedPlanKey, CreatedOnceAndKeptInTheStore) {
  store::EphemeralKeeper keeper;
  auto none = plan_key(keeper, false);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto created = plan_key(keeper, true);
  ASSERT_TRUE(created && *created);
  auto again = plan_key(keeper, false);
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->view(), (*created)->view());
  EXPECT_EQ((*created)->view().size(), 64u);
}

TEST(SavedPlanFile, WrittenAndReadBackWithTheSameKeyOnly) {
  plan::SavedPlan s;
  s.hsmctl_version = "0.1.0";
  s.units.push_back(unit());
  const Secret key("k1");
  ASSERT_TRUE(write_saved_plan("p.plan", s, key));
  auto back = read_saved_plan("p.plan", key);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->units.size(), 1u);
  auto other = read_saved_plan("p.plan", Secret("k2"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kRefused);
  EXPECT_THAT(other.error().message, HasSubstr("p.plan: "));
  auto missing = read_saved_plan("nothing.plan", key);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kUnavailable);
}

TEST(SavedPlanStaleness, SameUnitIsValid) {
  EXPECT_TRUE(unit_changes(unit(), unit()).empty());
}

TEST(SavedPlanStaleness, NamesEachChangedFact) {
  plan::SavedUnit now = unit();
  now.observation[1].second = "2";
  EXPECT_THAT(unit_changes(unit(), now),
              ElementsAre("user PIN retry counter 3 → 2 since the plan"));
  now.observation.emplace_back("key domain 0", "not set up");
  EXPECT_THAT(unit_changes(unit(), now),
              ElementsAre("user PIN retry counter 3 → 2 since the plan",
                          "key domain 0 (not observed) → not set up since the plan"));
}

TEST(SavedPlanStaleness, NamesAChangedPlan) {
  plan::SavedUnit now = unit();
  now.plan.actions[0].summary = "reset the user PIN retry counter with the SO PIN";
  EXPECT_THAT(unit_changes(unit(), now),
              ElementsAre("the plan now differs: actions: change user PIN → reset the user PIN "
                          "retry counter with the SO PIN"));
}

}  // namespace
}  // namespace hsmctl::reconcile
