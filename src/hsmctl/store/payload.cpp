// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/payload.hpp"

#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>

namespace hsmctl::store {
namespace {

using nlohmann::json;

// nlohmann::json does not wipe what it frees; overwrite every string in place before the
// document is destroyed (best effort: copies made by reallocation cannot be reached).
void wipe_strings(json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    secure_wipe(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& child : j)
      wipe_strings(child);
  }
}

struct JsonWiper {
  json& j;
  explicit JsonWiper(json& doc) : j(doc) {}
  JsonWiper(const JsonWiper&) = delete;
  JsonWiper& operator=(const JsonWiper&) = delete;
  // NOLINTNEXTLINE(bugprone-exception-escape): wipe_strings only overwrites bytes in place
  ~JsonWiper() { wipe_strings(j); }
};

std::string secret_hex(const Secret& s) {
  return to_hex(s.bytes());
}

std::optional<Secret> secret_from_hex(const std::string& hex) {
  auto bytes = from_hex(hex);
  if (!bytes)
    return std::nullopt;
  Secret out(*bytes);
  secure_wipe(bytes->data(), bytes->size());
  return out;
}

tl::unexpected<FormatError> corrupt(const std::string& what) {
  return tl::unexpected<FormatError>(
      FormatError{FailureKind::kCorrupt, "store payload is corrupt (" + what + ")"});
}

json entry_json(const Entry& e) {
  json je;
  je["id"] = e.id();
  je["device"] = e.device;
  je["name"] = e.name;
  if (e.current)
    je["current"] = secret_hex(*e.current);
  if (e.pending)
    je["pending"] = secret_hex(*e.pending);
  je["created"] = e.created;
  je["updated"] = e.updated;
  je["state"] = e.state();
  je["metadata"] = e.metadata;
  return je;
}

json journal_json(const Journal& j) {
  json jj;
  jj["id"] = j.id;
  jj["device"] = j.device;
  jj["plan_summary"] = j.plan_summary;
  jj["started"] = j.started;
  jj["updated"] = j.updated;
  jj["ended"] = j.ended;
  jj["outcome"] = j.outcome;
  json steps = json::array();
  for (const auto& st : j.steps) {
    steps.push_back({{"step", st.step},
                     {"state", journal_state_name(st.state)},
                     {"credential", st.credential},
                     {"updated", st.updated}});
  }
  jj["steps"] = std::move(steps);
  return jj;
}

// Throws json::exception on a structural error (the callers catch it).
FormatResult<Entry> parse_entry(const json& je) {
  Entry e;
  e.device = je.at("device").get<std::string>();
  e.name = je.at("name").get<std::string>();
  if (e.name.empty())
    return corrupt("entry without a name");
  if (je.contains("current")) {
    e.current = secret_from_hex(je.at("current").get_ref<const std::string&>());
    if (!e.current)
      return corrupt("bad value encoding in " + e.id());
  }
  if (je.contains("pending")) {
    e.pending = secret_from_hex(je.at("pending").get_ref<const std::string&>());
    if (!e.pending)
      return corrupt("bad value encoding in " + e.id());
  }
  e.created = je.value("created", "");
  e.updated = je.value("updated", "");
  if (je.contains("metadata"))
    e.metadata = je.at("metadata").get<std::map<std::string, std::string>>();
  return e;
}

FormatResult<Journal> parse_journal(const json& jj) {
  Journal j;
  j.id = jj.at("id").get<std::string>();
  j.device = jj.value("device", "");
  j.plan_summary = jj.value("plan_summary", "");
  j.started = jj.value("started", "");
  j.updated = jj.value("updated", "");
  j.ended = jj.value("ended", "");
  j.outcome = jj.value("outcome", "");
  for (const auto& js : jj.at("steps")) {
    JournalStep st;
    st.step = js.at("step").get<std::string>();
    auto state = parse_journal_state(js.at("state").get<std::string>());
    if (!state)
      return corrupt("unknown journal state in journal " + j.id);
    st.state = *state;
    st.credential = js.value("credential", "");
    st.updated = js.value("updated", "");
    j.steps.push_back(std::move(st));
  }
  return j;
}

Secret dump_wiped(const json& doc) {
  std::string text = doc.dump();
  Secret out(text);
  secure_wipe(text.data(), text.size());
  return out;
}

}  // namespace

std::string Entry::state() const {
  if (pending)
    return "pending";
  if (current)
    return "current";
  return "empty";
}

bool Entry::has_id(std::string_view id) const {
  if (device.empty())
    return id == name;
  return id.size() == device.size() + 1 + name.size() && id.starts_with(device) &&
         id[device.size()] == '/' && id.ends_with(name);
}

std::ptrdiff_t EntryIndex::find(const std::vector<Entry>& entries, std::string_view id) const {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (entries.size() < indexed_)
      forget();
    for (; indexed_ < entries.size(); ++indexed_)
      positions_.insert_or_assign(entries[indexed_].id(), indexed_);
    const auto it = positions_.find(std::string(id));
    if (it == positions_.end())
      return -1;
    if (entries[it->second].has_id(id))
      return static_cast<std::ptrdiff_t>(it->second);
    forget();  // an erase that did not go through StoreData::erase: start over
  }
  return -1;
}

Entry* StoreData::find(const std::string& id) {
  const auto at = index.find(entries, id);
  return at < 0 ? nullptr : &entries[static_cast<std::size_t>(at)];
}

const Entry* StoreData::find(const std::string& id) const {
  const auto at = index.find(entries, id);
  return at < 0 ? nullptr : &entries[static_cast<std::size_t>(at)];
}

Entry& StoreData::upsert(const std::string& device, const std::string& name,
                         const std::string& now) {
  Entry probe;
  probe.device = device;
  probe.name = name;
  if (Entry* e = find(probe.id())) {
    e->updated = now;
    return *e;
  }
  probe.created = now;
  probe.updated = now;
  entries.push_back(std::move(probe));
  return entries.back();
}

bool StoreData::erase(const std::string& id) {
  const auto at = index.find(entries, id);
  if (at < 0)
    return false;
  entries.erase(entries.begin() + at);
  index.forget();
  return true;
}

Journal* StoreData::find_journal(const std::string& id) {
  for (auto& j : journals) {
    if (j.id == id)
      return &j;
  }
  return nullptr;
}

Result<Secret> serialize_payload(const StoreData& data) {
  json doc;
  JsonWiper wiper{doc};
  doc["version"] = kPayloadVersion;
  doc["generation"] = data.generation;
  doc["modified"] = data.modified;
  json entries = json::array();
  for (const auto& e : data.entries)
    entries.push_back(entry_json(e));
  doc["entries"] = std::move(entries);
  json journals = json::array();
  for (const auto& j : data.journals)
    journals.push_back(journal_json(j));
  doc["journals"] = std::move(journals);
  return dump_wiped(doc);
}

FormatResult<StoreData> parse_payload(const Secret& plaintext) {
  json doc = json::parse(plaintext.view(), nullptr, /*allow_exceptions=*/false);
  JsonWiper wiper{doc};
  if (doc.is_discarded() || !doc.is_object())
    return corrupt("not a JSON object");
  try {
    // Integers only: nlohmann converts a float (1.5, 1e300) to an integer type with a plain
    // cast, which truncates or, out of range, is undefined behaviour.
    const json& jversion = doc.at("version");
    if (!jversion.is_number_integer() ||
        (jversion.is_number_unsigned() && jversion.get<std::uint64_t>() > 0x7FFFFFFF) ||
        (!jversion.is_number_unsigned() && jversion.get<std::int64_t>() < -0x7FFFFFFF)) {
      return corrupt("version is not an integer");
    }
    const int version = jversion.get<int>();
    if (version > kPayloadVersion) {
      return tl::unexpected<FormatError>(FormatError{
          FailureKind::kUnsupported,
          "store payload has version " + std::to_string(version) + ", written by a newer hsmctl"});
    }
    if (version < 1)
      return corrupt("version " + std::to_string(version));
    StoreData data;
    const json& jgeneration = doc.at("generation");
    if (!jgeneration.is_number_unsigned())
      return corrupt("generation is not a whole number");
    data.generation = jgeneration.get<std::uint64_t>();
    data.modified = doc.value("modified", "");
    for (const auto& je : doc.at("entries")) {
      auto e = parse_entry(je);
      if (!e)
        return tl::unexpected(e.error());
      if (data.find(e->id()) != nullptr)
        return corrupt("duplicate entry " + e->id());
      data.entries.push_back(std::move(*e));
    }
    if (doc.contains("journals")) {
      for (const auto& jj : doc.at("journals")) {
        auto j = parse_journal(jj);
        if (!j)
          return tl::unexpected(j.error());
        data.journals.push_back(std::move(*j));
      }
    }
    return data;
  } catch (const json::exception& e) {
    // The message names a JSON field or type, never a value.
    return corrupt(std::string("bad structure: ") + e.what());
  }
}

namespace {

bool same_secret(const std::optional<Secret>& a, const std::optional<Secret>& b) {
  if (a.has_value() != b.has_value())
    return false;
  return !a || a->view() == b->view();
}

bool same_entry(const Entry& a, const Entry& b) {
  return a.device == b.device && a.name == b.name && same_secret(a.current, b.current) &&
         same_secret(a.pending, b.pending) && a.created == b.created && a.updated == b.updated &&
         a.metadata == b.metadata;
}

bool same_journal(const Journal& a, const Journal& b) {
  if (a.id != b.id || a.device != b.device || a.plan_summary != b.plan_summary ||
      a.started != b.started || a.updated != b.updated || a.ended != b.ended ||
      a.outcome != b.outcome || a.steps.size() != b.steps.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    const auto& x = a.steps[i];
    const auto& y = b.steps[i];
    if (x.step != y.step || x.state != y.state || x.credential != y.credential ||
        x.updated != y.updated) {
      return false;
    }
  }
  return true;
}

}  // namespace

StoreDelta diff_store(const StoreData& before, const StoreData& after) {
  StoreDelta d;
  std::map<std::string, const Entry*> old_entries;
  for (const auto& e : before.entries)
    old_entries.emplace(e.id(), &e);
  for (const auto& e : after.entries) {
    auto it = old_entries.find(e.id());
    if (it == old_entries.end() || !same_entry(*it->second, e))
      d.entries.push_back(e);
    if (it != old_entries.end())
      old_entries.erase(it);
  }
  for (const auto& [id, e] : old_entries)
    d.removed_entries.push_back(id);
  std::map<std::string, const Journal*> old_journals;
  for (const auto& j : before.journals)
    old_journals.emplace(j.id, &j);
  for (const auto& j : after.journals) {
    auto it = old_journals.find(j.id);
    if (it == old_journals.end() || !same_journal(*it->second, j))
      d.journals.push_back(j);
    if (it != old_journals.end())
      old_journals.erase(it);
  }
  for (const auto& [id, j] : old_journals)
    d.removed_journals.push_back(id);
  return d;
}

void apply_delta(StoreData& data, const StoreDelta& delta) {
  for (const auto& e : delta.entries) {
    if (Entry* existing = data.find(e.id()))
      *existing = e;
    else
      data.entries.push_back(e);
  }
  for (const auto& j : delta.journals) {
    if (Journal* existing = data.find_journal(j.id))
      *existing = j;
    else
      data.journals.push_back(j);
  }
  for (const auto& id : delta.removed_entries)
    data.erase(id);
  for (const auto& id : delta.removed_journals) {
    std::erase_if(data.journals, [&](const Journal& j) { return j.id == id; });
  }
}

Result<Secret> serialize_delta(const StoreDelta& delta) {
  json doc;
  JsonWiper wiper{doc};
  doc["version"] = kPayloadVersion;
  doc["base"] = delta.base;
  doc["index"] = delta.index;
  json entries = json::array();
  for (const auto& e : delta.entries)
    entries.push_back(entry_json(e));
  doc["entries"] = std::move(entries);
  json journals = json::array();
  for (const auto& j : delta.journals)
    journals.push_back(journal_json(j));
  doc["journals"] = std::move(journals);
  doc["removed_entries"] = delta.removed_entries;
  doc["removed_journals"] = delta.removed_journals;
  return dump_wiped(doc);
}

FormatResult<StoreDelta> parse_delta(const Secret& plaintext) {
  json doc = json::parse(plaintext.view(), nullptr, /*allow_exceptions=*/false);
  JsonWiper wiper{doc};
  if (doc.is_discarded() || !doc.is_object())
    return corrupt("log record is not a JSON object");
  try {
    if (!doc.at("version").is_number_integer() || doc.at("version").get<std::int64_t>() != 1)
      return corrupt("log record of an unknown version");
    if (!doc.at("base").is_number_unsigned() || !doc.at("index").is_number_unsigned())
      return corrupt("log record without a whole base and index");
    StoreDelta d;
    d.base = doc.at("base").get<std::uint64_t>();
    d.index = doc.at("index").get<std::uint64_t>();
    for (const auto& je : doc.at("entries")) {
      auto e = parse_entry(je);
      if (!e)
        return tl::unexpected(e.error());
      d.entries.push_back(std::move(*e));
    }
    for (const auto& jj : doc.at("journals")) {
      auto j = parse_journal(jj);
      if (!j)
        return tl::unexpected(j.error());
      d.journals.push_back(std::move(*j));
    }
    d.removed_entries = doc.at("removed_entries").get<std::vector<std::string>>();
    d.removed_journals = doc.at("removed_journals").get<std::vector<std::string>>();
    return d;
  } catch (const json::exception& e) {
    return corrupt(std::string("bad log record structure: ") + e.what());
  }
}

std::string now_rfc3339() {
  time_t t = time(nullptr);
  struct tm tm_utc {};
  gmtime_r(&t, &tm_utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  return buf;
}

const char* journal_state_name(JournalState state) {
  switch (state) {
    case JournalState::kIntent:
      return "intent";
    case JournalState::kSending:
      return "sending";
    case JournalState::kSucceeded:
      return "succeeded";
    case JournalState::kRefused:
      return "refused";
    case JournalState::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::optional<JournalState> parse_journal_state(std::string_view name) {
  for (auto s : {JournalState::kIntent, JournalState::kSending, JournalState::kSucceeded,
                 JournalState::kRefused, JournalState::kSkipped}) {
    if (name == journal_state_name(s))
      return s;
  }
  return std::nullopt;
}

std::optional<JournalState> Journal::last_state_for(const std::string& credential) const {
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    if (it->credential == credential)
      return it->state;
  }
  return std::nullopt;
}

}  // namespace hsmctl::store
