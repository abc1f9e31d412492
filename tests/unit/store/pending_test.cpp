// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/pending.hpp"

#include <gtest/gtest.h>

namespace hsmctl::store {
namespace {

using State = model::PinStatus::State;

model::PinStatus tries(int n) { return {State::kTriesLeft, n}; }

PendingInput base() {
  PendingInput in;
  in.has_current = true;
  in.has_pending = true;
  in.status = tries(3);
  in.retries_max = 3;
  return in;
}

struct Row {
  const char* name;
  PendingInput input;
  PendingAction action;
  StoreOutcome on_match;
  StoreOutcome on_mismatch;
};

PendingInput with(PendingInput in, auto&& change) {
  change(in);
  return in;
}

TEST(StorePending, DecisionTable) {
  const std::vector<Row> rows = {
      {"no pending", with(base(), [](auto& i) { i.has_pending = false; }),
       PendingAction::kNothing, StoreOutcome::kNone, StoreOutcome::kNone},
      {"equal values", with(base(), [](auto& i) { i.values_equal = true; }),
       PendingAction::kCommitNow, StoreOutcome::kNone, StoreOutcome::kNone},
      {"journal succeeded",
       with(base(), [](auto& i) { i.journal = JournalState::kSucceeded; i.status = tries(1); }),
       PendingAction::kCommitNow, StoreOutcome::kNone, StoreOutcome::kNone},
      {"journal refused",
       with(base(), [](auto& i) { i.journal = JournalState::kRefused; i.status = {State::kBlocked, -1}; }),
       PendingAction::kDiscardNow, StoreOutcome::kNone, StoreOutcome::kNone},
      {"sent, counter full", with(base(), [](auto& i) { i.journal = JournalState::kSending; }),
       PendingAction::kVerifyPending, StoreOutcome::kCommit, StoreOutcome::kDiscard},
      {"no journal, counter full", base(), PendingAction::kVerifyPending, StoreOutcome::kCommit,
       StoreOutcome::kDiscard},
      {"no current, counter full", with(base(), [](auto& i) { i.has_current = false; }),
       PendingAction::kVerifyPending, StoreOutcome::kCommit, StoreOutcome::kDiscard},
      {"staged not sent", with(base(), [](auto& i) { i.journal = JournalState::kIntent; }),
       PendingAction::kVerifyCurrent, StoreOutcome::kDiscard, StoreOutcome::kKeepBoth},
      {"staged not sent, no current",
       with(base(), [](auto& i) { i.journal = JournalState::kIntent; i.has_current = false; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"counter not full", with(base(), [](auto& i) { i.status = tries(2); }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"counter full but 1",
       with(base(), [](auto& i) { i.status = tries(1); i.retries_max = 1; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"counter full and exactly 2",
       with(base(), [](auto& i) { i.status = tries(2); i.retries_max = 2; }),
       PendingAction::kVerifyPending, StoreOutcome::kCommit, StoreOutcome::kDiscard},
      {"policy floor above full counter",
       with(base(), [](auto& i) { i.min_tries = 5; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"policy floor below 2 is raised",
       with(base(), [](auto& i) { i.min_tries = 0; i.status = tries(1); i.retries_max = 1; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"max unknown", with(base(), [](auto& i) { i.retries_max.reset(); }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"so pin full", with(base(), [](auto& i) { i.status = tries(15); i.retries_max = 15; }),
       PendingAction::kVerifyPending, StoreOutcome::kCommit, StoreOutcome::kDiscard},
      {"so pin one failure", with(base(), [](auto& i) { i.status = tries(14); i.retries_max = 15; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"blocked", with(base(), [](auto& i) { i.status = {State::kBlocked, -1}; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"not initialized", with(base(), [](auto& i) { i.status = {State::kNotInitialized, -1}; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"transport", with(base(), [](auto& i) { i.status = {State::kTransport, -1}; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
      {"session open", with(base(), [](auto& i) { i.status = {State::kVerified, -1}; }),
       PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone},
  };
  for (const auto& row : rows) {
    PendingPlan plan = resolve_pending_plan(row.input);
    EXPECT_EQ(plan.action, row.action)
        << row.name << ": got " << pending_action_name(plan.action) << " (" << plan.reason << ")";
    EXPECT_EQ(plan.on_match, row.on_match) << row.name;
    EXPECT_EQ(plan.on_mismatch, row.on_mismatch) << row.name;
    EXPECT_FALSE(plan.reason.empty()) << row.name;
  }
}

TEST(StorePending, NeverVerifiesUnlessTheCounterIsFullAndAtLeastTwo) {
  // Exhaustive over small counters: a VERIFY is only ever planned with tries == max >= 2.
  for (int max = 1; max <= 15; ++max) {
    for (int left = 0; left <= max; ++left) {
      for (auto journal : {std::optional<JournalState>{}, std::optional(JournalState::kIntent),
                           std::optional(JournalState::kSending)}) {
        for (bool has_current : {false, true}) {
          PendingInput in = base();
          in.status = tries(left);
          in.retries_max = max;
          in.journal = journal;
          in.has_current = has_current;
          PendingPlan plan = resolve_pending_plan(in);
          const bool verifies = plan.action == PendingAction::kVerifyPending ||
                                plan.action == PendingAction::kVerifyCurrent;
          if (verifies) {
            EXPECT_EQ(left, max);
            EXPECT_GE(left, 2);
          }
          if (left == max && left >= 2 && (has_current || journal != JournalState::kIntent)) {
            EXPECT_TRUE(verifies) << "max " << max;
          }
          if (plan.action == PendingAction::kVerifyCurrent) {
            EXPECT_TRUE(has_current);
          }
        }
      }
    }
  }
}

TEST(StorePending, ReasonsExplainTheRefusal) {
  PendingInput in = base();
  in.status = tries(2);
  PendingPlan plan = resolve_pending_plan(in);
  EXPECT_NE(plan.reason.find("2 of 3"), std::string::npos) << plan.reason;
  in.status = {State::kBlocked, -1};
  EXPECT_NE(resolve_pending_plan(in).reason.find("blocked"), std::string::npos);
}

}  // namespace
}  // namespace hsmctl::store
