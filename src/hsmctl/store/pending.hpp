// SPDX-License-Identifier: Apache-2.0
#pragma once
// Resolving a credential left *pending* by an interrupted run, without guessing. Pure: the
// caller (apply) queries the PIN status first (a VERIFY without data costs nothing), passes what
// it knows, and gets back at most one value to VERIFY and what to do with each outcome.
//
// Rules:
//   - status queries first; the decision uses the status, never a trial VERIFY;
//   - at most one VERIFY, with the most likely value;
//   - only when the retry counter is full (tries_left == known maximum) and >= 2, so a wrong
//     guess can never block the PIN and never eats into an already-reduced budget;
//   - everything decided is reported in `reason` for the operator.

#include <optional>
#include <string>

#include "hsmctl/model/observed.hpp"
#include "hsmctl/store/journal.hpp"

namespace hsmctl::store {

struct PendingInput {
  bool has_current = false;
  bool has_pending = false;
  /// pending and current hold the same value (compared by the caller with Secret::equals).
  bool values_equal = false;
  /// Last journal state of the step that staged the pending value; nullopt if no open journal
  /// mentions the credential.
  std::optional<JournalState> journal;
  /// The VERIFY status query answer for this PIN reference, taken in this run.
  model::PinStatus status;
  /// Configured retry maximum when known (SO PIN: 15; user PIN: from the store or a previous
  /// observation). Without it the counter cannot be shown to be full.
  std::optional<int> retries_max;
  /// Policy floor for tries left before any VERIFY; values below 2 are treated as 2.
  int min_tries = 2;
};

enum class PendingAction {
  kNothing,        ///< no pending value
  kCommitNow,      ///< promote pending without a VERIFY (journal says success, or equal values)
  kDiscardNow,     ///< drop pending without a VERIFY (journal says the device refused)
  kVerifyPending,  ///< one VERIFY with the pending value
  kVerifyCurrent,  ///< one VERIFY with the current value
  kHold,           ///< touch nothing: keep both values, report, let the operator decide
};

/// What to do with the store after the VERIFY.
enum class StoreOutcome {
  kNone,      ///< leave the store as it is
  kCommit,    ///< pending becomes current
  kDiscard,   ///< pending is dropped
  kKeepBoth,  ///< keep both (the next run, or the operator, resolves it)
};

struct PendingPlan {
  PendingAction action = PendingAction::kNothing;
  StoreOutcome on_match = StoreOutcome::kNone;     ///< VERIFY answered 9000
  StoreOutcome on_mismatch = StoreOutcome::kNone;  ///< VERIFY answered 63Cx/6983
  /// One line for the operator; never contains a value.
  std::string reason;
};

PendingPlan resolve_pending_plan(const PendingInput& input);

const char* pending_action_name(PendingAction action);
const char* store_outcome_name(StoreOutcome outcome);

}  // namespace hsmctl::store
