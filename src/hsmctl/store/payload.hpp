// SPDX-License-Identifier: Apache-2.0
#pragma once
// The decrypted content of a store file: a JSON document (docs/store-format.md, "Payload").

#include "hsmctl/store/format.hpp"
#include "hsmctl/store/journal.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
  /// id() == `id`, without building id() (a store lookup compares many entries).
  bool has_id(std::string_view id) const;
  /// "pending" (a staged value awaits its outcome), "current", or "empty".
  std::string state() const;
};

/// Positions of entries by id, a cache for StoreData::find (a fleet's store holds thousands of
/// entries and each device looks up a few: a scan per lookup made a plan quadratic). It relies
/// on how the store changes `entries`: appended at the end, replaced in place by an entry with
/// the same id, erased only through StoreData::erase (which calls forget()). A copy starts empty
/// (a move keeps the positions: the moved vector keeps its order).
class EntryIndex {
 public:
  EntryIndex() = default;
  EntryIndex(const EntryIndex& /*other*/) {}
  EntryIndex& operator=(const EntryIndex& /*other*/) {
    forget();
    return *this;
  }
  EntryIndex(EntryIndex&&) noexcept = default;
  EntryIndex& operator=(EntryIndex&&) noexcept = default;
  ~EntryIndex() = default;

  /// The position of the entry `id` in `entries`, or -1. Entries appended since the last call
  /// are indexed first; a cached position is checked against the entry, and a mismatch (or a
  /// shorter vector) rebuilds the cache. Not safe for concurrent readers (like the store).
  std::ptrdiff_t find(const std::vector<Entry>& entries, std::string_view id) const;
  /// Empties the cache (after an erase moved positions).
  void forget() const {
    positions_.clear();
    indexed_ = 0;
  }

 private:
  mutable std::unordered_map<std::string, std::size_t> positions_;
  mutable std::size_t indexed_ = 0;  ///< entries [0, indexed_) are in positions_
};

struct StoreData {
  std::uint64_t generation = 0;
  std::string modified;
  std::vector<Entry> entries;
  std::vector<Journal> journals;
  EntryIndex index;

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
