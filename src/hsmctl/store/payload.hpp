// SPDX-License-Identifier: Apache-2.0
#pragma once
// The decrypted content of a store file: a JSON document (docs/store-format.md, "Payload").

#include "hsmctl/store/format.hpp"
#include "hsmctl/store/journal.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::store {

inline constexpr int kPayloadVersion = 1;

struct Entry {
  std::string device;  ///< empty for free-form entries (store:NAME)
  std::string name;
  std::optional<Secret> current;
  std::optional<Secret> pending;
  std::string created;  ///< RFC 3339 UTC
  std::string updated;
  std::map<std::string, std::string> metadata;  ///< non-secret notes (e.g. "source": "generate")

  std::string id() const { return device.empty() ? name : device + "/" + name; }
  /// "pending" (a staged value awaits its outcome), "current", or "empty".
  std::string state() const;
};

struct StoreData {
  std::uint64_t generation = 0;
  std::string modified;
  std::vector<Entry> entries;
  std::vector<Journal> journals;

  Entry* find(const std::string& id);
  const Entry* find(const std::string& id) const;
  /// Finds or appends an entry for device/name (created/updated stamped with `now`).
  Entry& upsert(const std::string& device, const std::string& name, const std::string& now);
  bool erase(const std::string& id);
  Journal* find_journal(const std::string& id);
};

/// One logged mutation of the store (the store's log, docs/store-format.md "Log"): the entries
/// and journals it added or changed (whole objects, so replaying it twice is harmless) and the
/// ids it removed, against the store file of generation `base`.
struct StoreDelta {
  std::uint64_t base = 0;   ///< the generation of the store file it applies to
  std::uint64_t index = 0;  ///< its position among the deltas on `base`: 0, 1, ...
  std::vector<Entry> entries;
  std::vector<Journal> journals;
  std::vector<std::string> removed_entries;
  std::vector<std::string> removed_journals;
  bool empty() const {
    return entries.empty() && journals.empty() && removed_entries.empty() &&
           removed_journals.empty();
  }
};

/// What turns `before` into `after` (base and index left 0). apply_delta(before, d) == after,
/// up to the order of entries and journals that were added (appended) .
StoreDelta diff_store(const StoreData& before, const StoreData& after);
/// Replaces or appends each entry and journal of `delta`, then removes its removed ids.
void apply_delta(StoreData& data, const StoreDelta& delta);
/// JSON text of a delta (holds credential values, hence a Secret) and its parser (kCorrupt).
Result<Secret> serialize_delta(const StoreDelta& delta);
FormatResult<StoreDelta> parse_delta(const Secret& plaintext);

/// JSON text of `data`. Returned in a Secret because it holds credential values.
Result<Secret> serialize_payload(const StoreData& data);
/// Parses a decrypted payload. kCorrupt for malformed JSON or fields, kUnsupported for a newer
/// payload version.
FormatResult<StoreData> parse_payload(const Secret& plaintext);

/// Current time as RFC 3339 UTC ("2026-11-23T15:52:00Z").
std::string now_rfc3339();

}  // namespace hsmctl::store
