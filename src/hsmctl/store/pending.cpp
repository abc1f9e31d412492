// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/pending.hpp"

#include <algorithm>

namespace hsmctl::store {
namespace {

PendingPlan hold(std::string reason) {
  return PendingPlan{PendingAction::kHold, StoreOutcome::kNone, StoreOutcome::kNone,
                     std::move(reason)};
}

}  // namespace

PendingPlan resolve_pending_plan(const PendingInput& in) {
  using State = model::PinStatus::State;
  if (!in.has_pending) return PendingPlan{PendingAction::kNothing, {}, {}, "nothing pending"};
  if (in.has_current && in.values_equal) {
    return PendingPlan{PendingAction::kCommitNow, {}, {},
                       "pending equals current; committed without a VERIFY"};
  }
  // The journal is written before (kSending) and after (kSucceeded/kRefused) each transmission,
  // so a recorded outcome is authoritative and needs no VERIFY.
  if (in.journal == JournalState::kSucceeded) {
    return PendingPlan{PendingAction::kCommitNow, {}, {},
                       "the journal records that the device accepted the new value; committed "
                       "without a VERIFY"};
  }
  if (in.journal == JournalState::kRefused) {
    return PendingPlan{PendingAction::kDiscardNow, {}, {},
                       "the journal records that the device refused the new value; discarded "
                       "without a VERIFY"};
  }

  switch (in.status.state) {
    case State::kNotInitialized:
      return hold("the device reports the PIN as not initialized; neither value can be checked, "
                  "both are kept");
    case State::kBlocked:
      return hold("the PIN is blocked (6983); no VERIFY sent, both values kept (unblock it with "
                  "the SO PIN, then run again)");
    case State::kTransport:
      return hold("the PIN is in transport state (6984); no VERIFY sent, both values kept");
    case State::kVerified:
      return hold("a PIN session is already open, so the retry counter is not visible; re-select "
                  "and query the status again; no VERIFY sent");
    case State::kTriesLeft:
      break;
  }
  const int floor = std::max(2, in.min_tries);
  const int tries = in.status.tries_left;
  if (tries < floor) {
    return hold("only " + std::to_string(tries) + " tries left (at least " +
                std::to_string(floor) + " needed before any VERIFY); no VERIFY sent, both values "
                "kept");
  }
  if (!in.retries_max) {
    return hold("the retry maximum is unknown, so a full counter cannot be confirmed; no VERIFY "
                "sent, both values kept");
  }
  if (tries != *in.retries_max) {
    return hold("the retry counter shows failed attempts (" + std::to_string(tries) + " of " +
                std::to_string(*in.retries_max) + " left); no VERIFY sent, both values kept");
  }

  // Counter full and >= floor: one VERIFY with the most likely value.
  if (in.journal == JournalState::kIntent && !in.has_current) {
    return hold("the journal shows the change was staged but never sent and no current value is "
                "stored; no VERIFY sent (remove the entry with `hsmctl store rm` if it is stale)");
  }
  if (in.journal == JournalState::kIntent) {
    // The change was staged but, per the journal, never transmitted: the device most likely
    // still holds the current value. A mismatch would mean neither value is known to match.
    return PendingPlan{PendingAction::kVerifyCurrent, StoreOutcome::kDiscard,
                       StoreOutcome::kKeepBoth,
                       "the journal shows the change was staged but not sent; verifying the "
                       "current value once"};
  }
  // Sent with an unknown outcome, or no journal at all: the window in which a run stops while a
  // command is in flight is far larger than the one between staging and sending, so the new
  // value is the more likely. A mismatch proves the device does not hold it.
  const char* why = in.journal == JournalState::kSending
                        ? "the journal shows the change was sent with no recorded answer"
                        : "no journal records the change";
  if (!in.has_current) {
    return PendingPlan{PendingAction::kVerifyPending, StoreOutcome::kCommit,
                       StoreOutcome::kDiscard,
                       std::string(why) + "; verifying the pending value once (no current value "
                                          "is stored)"};
  }
  return PendingPlan{PendingAction::kVerifyPending, StoreOutcome::kCommit, StoreOutcome::kDiscard,
                     std::string(why) + "; verifying the pending value once"};
}

const char* pending_action_name(PendingAction action) {
  switch (action) {
    case PendingAction::kNothing: return "nothing";
    case PendingAction::kCommitNow: return "commit";
    case PendingAction::kDiscardNow: return "discard";
    case PendingAction::kVerifyPending: return "verify-pending";
    case PendingAction::kVerifyCurrent: return "verify-current";
    case PendingAction::kHold: return "hold";
  }
  return "unknown";
}

const char* store_outcome_name(StoreOutcome outcome) {
  switch (outcome) {
    case StoreOutcome::kNone: return "none";
    case StoreOutcome::kCommit: return "commit";
    case StoreOutcome::kDiscard: return "discard";
    case StoreOutcome::kKeepBoth: return "keep-both";
  }
  return "unknown";
}

}  // namespace hsmctl::store
