// SPDX-License-Identifier: Apache-2.0
#pragma once
// The apply journal: what an apply run intended and how far it got, kept next to the
// credentials (in the same encrypted file for EncryptedStore) so an interrupted apply can be
// explained and resumed. Journals never contain secret values.

#include "hsmctl/util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::store {

/// Progress of one step. The apply engine records kSending durably *before* it transmits a
/// state-changing command, so kIntent means "certainly not sent".
enum class JournalState {
  kIntent,     ///< planned (and, for credential steps, the new value is staged); not sent
  kSending,    ///< about to be / being transmitted; the outcome is unknown
  kSucceeded,  ///< the device answered success
  kRefused,    ///< the device definitely refused
  kSkipped,    ///< not attempted
};
const char* journal_state_name(JournalState state);
std::optional<JournalState> parse_journal_state(std::string_view name);

struct JournalStep {
  std::string step;  ///< e.g. "change so-pin"
  JournalState state = JournalState::kIntent;
  std::string credential;  ///< CredentialKey::id() the step changes, empty otherwise
  std::string updated;     ///< RFC 3339 UTC
};

struct Journal {
  std::string id;            ///< random, 16 hex digits
  std::string device;        ///< "pico:E6614C311B4A2B21"
  std::string plan_summary;  ///< one line, no secrets
  std::string started;
  std::string updated;
  std::string ended;    ///< empty while open
  std::string outcome;  ///< set by journal_end ("applied", "failed: ...")
  std::vector<JournalStep> steps;
  bool is_open() const { return ended.empty(); }
  /// The last recorded state of the last step naming `credential`, if any.
  std::optional<JournalState> last_state_for(const std::string& credential) const;
};

/// Implemented by EncryptedStore (durable) and EphemeralKeeper (in memory).
class ApplyJournal {
 public:
  virtual ~ApplyJournal() = default;
  /// Opens a journal; returns its id. Durable when it returns.
  virtual Result<std::string> journal_begin(const std::string& device,
                                            const std::string& plan_summary) = 0;
  /// Appends a step or updates the state of the latest step with the same name. Durable.
  /// Errc::kStore if the journal does not exist or is closed.
  virtual Result<void> journal_step(const std::string& journal_id, const std::string& step,
                                    JournalState state, const std::string& credential = {}) = 0;
  /// Closes a journal with an outcome. Errc::kStore if it does not exist.
  virtual Result<void> journal_end(const std::string& journal_id,
                                   const std::string& outcome = "applied") = 0;
  /// Journals that were begun and never ended (oldest first).
  virtual Result<std::vector<Journal>> open_journals() = 0;
};

}  // namespace hsmctl::store
