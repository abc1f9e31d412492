// SPDX-License-Identifier: Apache-2.0
// valijson implements `pattern` with std::regex; under -O2 -fsanitize=address,undefined GCC 12
// reports a false -Wmaybe-uninitialized inside <regex>/<functional> (GCC PR 105562), as in
// manifest/schema_validator.cpp. The pragma must precede every include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "hsmctl/policy/policy.hpp"

#include "hsmctl/manifest/doc_json.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"
#include "hsmctl/manifest/load.hpp"

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <ctime>
#include <set>
#include <utility>

namespace hsmctl::policy {

using nlohmann::json;

namespace {

// NOLINTNEXTLINE(bugprone-exception-escape): its implicit move can only throw on allocation
struct Rule {
  json document;
  std::unique_ptr<valijson::Schema> schema;
};

struct Policy {
  std::string name;
  std::string severity;
  std::string message;
  std::vector<std::string> kinds;
  std::map<std::string, std::string> match_labels;
  std::optional<Rule> deny;
  std::optional<Rule> require;
  std::vector<Waiver> waivers;
  std::vector<std::vector<std::string>> waiver_names;  ///< per waiver
};

/// Compiles a rule; the error text of valijson's parser when it is not a usable JSON Schema.
Result<Rule> compile(const json& rule) {
  Rule r;
  try {
    r.document = rule;
    r.schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(r.document);
    parser.populateSchema(adapter, *r.schema);
  } catch (const std::exception& e) {
    return make_error(Errc::kManifest, std::string("not a usable JSON Schema: ") + e.what());
  }
  return r;
}

bool matches(const Rule& rule, const json& input) {
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::adapters::NlohmannJsonAdapter target(input);
  return validator.validate(*rule.schema, target, nullptr);
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

struct PolicySet::Impl {
  std::vector<Policy> policies;
};

PolicySet::PolicySet() : impl_(std::make_unique<Impl>()) {}
PolicySet::~PolicySet() = default;
PolicySet::PolicySet(PolicySet&&) noexcept = default;
PolicySet& PolicySet::operator=(PolicySet&&) noexcept = default;

bool PolicySet::empty() const {
  return impl_->policies.empty();
}
std::size_t PolicySet::size() const {
  return impl_->policies.size();
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSkip:
      return "skip";
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kWaived:
      return "waived";
  }
  return "skip";
}

Result<std::vector<Outcome>> PolicySet::evaluate(const std::string& input_json,
                                                 std::string_view today) const {
  json input;
  try {
    input = json::parse(input_json);
  } catch (const std::exception& e) {
    return make_error(Errc::kManifest, std::string("policy input is not JSON: ") + e.what());
  }
  if (!input.is_object())
    return make_error(Errc::kManifest, "policy input is not a JSON object");
  const std::string kind = string_at(input, "kind");
  json metadata = input.contains("metadata") && input["metadata"].is_object() ? input["metadata"]
                                                                              : json::object();
  const std::string name = string_at(metadata, "name");
  const json labels = metadata.contains("labels") && metadata["labels"].is_object()
                          ? metadata["labels"]
                          : json::object();
  std::vector<Outcome> out;
  for (const Policy& p : impl_->policies) {
    Outcome o;
    o.policy = p.name;
    o.severity = p.severity;
    o.message = p.message;
    bool selected =
        p.kinds.empty() || std::find(p.kinds.begin(), p.kinds.end(), kind) != p.kinds.end();
    for (const auto& [key, value] : p.match_labels) {
      selected = selected && string_at(labels, key.c_str()) == value && labels.contains(key);
    }
    if (!selected) {
      out.push_back(std::move(o));
      continue;
    }
    bool violated = false;
    if (p.deny && matches(*p.deny, input))
      violated = true;
    if (p.require && !matches(*p.require, input))
      violated = true;
    o.verdict = violated ? Verdict::kFail : Verdict::kPass;
    if (violated) {
      // The waiver in force (expires today or later), else the one that expired last.
      for (std::size_t i = 0; i < p.waivers.size(); ++i) {
        const auto& names = p.waiver_names[i];
        if (std::find(names.begin(), names.end(), name) == names.end())
          continue;
        Waiver w = p.waivers[i];
        w.expired = w.expires < today;
        if (!w.expired) {
          o.waiver = w;
          o.verdict = Verdict::kWaived;
          break;
        }
        if (!o.waiver || o.waiver->expires < w.expires)
          o.waiver = w;
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

/// The one way into a PolicySet's rules for the reader below.
struct Access {
  static PolicySet::Impl& of(PolicySet& set) { return *set.impl_; }
};

namespace {

std::vector<manifest::KindSchema> kinds(bool with_tests) {
  std::vector<manifest::KindSchema> k;
  k.push_back({"Policy", manifest::embedded::find("policy.v1alpha1.schema.json"), {}});
  if (with_tests) {
    k.push_back({"PolicyTest", manifest::embedded::find("policytest.v1alpha1.schema.json"), {}});
  }
  return k;
}

class Reader {
 public:
  explicit Reader(Loaded& out) : out_(out) {}

  void accept(std::size_t kind, const manifest::DocView& doc, manifest::Diagnostics& diag) {
    json j;
    try {
      j = json::parse(manifest::to_json(doc.root()));
    } catch (const std::exception& e) {
      diag.error(doc.error_at("", std::string("internal error: ") + e.what()));
      return;
    }
    if (kind == 0) {
      accept_policy(j, doc, diag);
    } else {
      accept_test(j, doc);
    }
  }

 private:
  void accept_policy(const json& j, const manifest::DocView& doc, manifest::Diagnostics& diag) {
    Policy p;
    p.name = j["metadata"]["name"].get<std::string>();
    if (!names_.insert(p.name).second) {
      diag.error(doc.error_at("/metadata/name", "a policy named \"" + p.name +
                                                    "\" was already loaded; policy "
                                                    "names must be unique"));
      return;
    }
    const json& spec = j["spec"];
    p.severity = spec["severity"].get<std::string>();
    p.message = spec["message"].get<std::string>();
    if (spec.contains("selector")) {
      const json& sel = spec["selector"];
      if (sel.contains("kinds"))
        p.kinds = sel["kinds"].get<std::vector<std::string>>();
      if (sel.contains("matchLabels"))
        p.match_labels = sel["matchLabels"].get<std::map<std::string, std::string>>();
    }
    bool ok = true;
    if (!spec.contains("deny") && !spec.contains("require")) {
      diag.error(doc.error_at("/spec",
                              "a policy needs deny, require or both (JSON Schemas over "
                              "the policy input, docs/policies.md)"));
      ok = false;
    }
    for (const char* which : {"deny", "require"}) {
      if (!spec.contains(which))
        continue;
      auto rule = compile(spec[which]);
      if (!rule) {
        diag.error(doc.error_at(std::string("/spec/") + which, rule.error().message));
        ok = false;
        continue;
      }
      (std::string_view(which) == "deny" ? p.deny : p.require) = std::move(*rule);
    }
    if (spec.contains("waivers")) {
      for (const json& w : spec["waivers"]) {
        p.waivers.push_back(Waiver{w["approvedBy"].get<std::string>(),
                                   w["expires"].get<std::string>(), w["reason"].get<std::string>(),
                                   false});
        p.waiver_names.push_back(w["names"].get<std::vector<std::string>>());
      }
    }
    if (ok)
      Access::of(out_.policies).policies.push_back(std::move(p));
  }

  void accept_test(const json& j, const manifest::DocView& doc) {
    TestCase t;
    t.name = j["metadata"]["name"].get<std::string>();
    t.where = doc.start();
    const json& spec = j["spec"];
    t.today = string_at(spec, "today");
    t.input_json = spec["input"].dump();  // as written: a test may leave members out
    t.expect = spec["expect"].get<std::map<std::string, std::string>>();
    out_.tests.push_back(std::move(t));
  }

  Loaded& out_;
  std::set<std::string> names_;
};

}  // namespace

Loaded load(const std::vector<std::string>& paths, bool with_tests,
            manifest::Diagnostics& diagnostics) {
  Loaded out;
  Reader reader(out);
  manifest::read_manifests(paths, kinds(with_tests), diagnostics,
                           [&](std::size_t kind, const manifest::DocView& doc,
                               manifest::Diagnostics& diag) { reader.accept(kind, doc, diag); });
  diagnostics.end_files();
  return out;
}

Loaded load_text(const std::string& text, const std::string& file_name, bool with_tests,
                 manifest::Diagnostics& diagnostics) {
  Loaded out;
  Reader reader(out);
  manifest::read_manifest_text(
      text, file_name, kinds(with_tests), diagnostics,
      [&](std::size_t kind, const manifest::DocView& doc, manifest::Diagnostics& diag) {
        reader.accept(kind, doc, diag);
      });
  diagnostics.end_files();
  return out;
}

namespace {

json input_of(const json& document, const plan::DevicePlan* device_plan) {
  json input = json::object();
  input["kind"] = document.contains("kind") ? document["kind"] : json();
  json metadata = document.contains("metadata") ? document["metadata"] : json::object();
  if (!metadata.contains("labels"))
    metadata["labels"] = json::object();
  input["metadata"] = std::move(metadata);
  input["spec"] = document.contains("spec") ? document["spec"] : json::object();
  input["plan"] = nullptr;
  if (device_plan != nullptr) {
    // The device's object exactly as `plan -o json` shows it (plan/ renders it, no secrets).
    const json rendered = json::parse(plan::render_json({*device_plan}));
    input["plan"] = rendered["devices"][0];
  }
  return input;
}

}  // namespace

std::string make_input(const std::string& document_json, const plan::DevicePlan* device_plan) {
  return input_of(json::parse(document_json), device_plan).dump();
}

Results check(const PolicySet& policies, const std::vector<std::string>& document_jsons,
              std::vector<plan::DevicePlan>& plans, std::string_view today) {
  Results results(plans.size());
  if (policies.empty())
    return results;
  struct Found {
    std::size_t plan;
    std::string document;  ///< "PrimusPartition p1" when not the plan's own document
    Outcome outcome;
  };
  std::vector<Found> found;
  // Evaluate every document against the plans as the planner made them, then amend.
  for (const std::string& text : document_jsons) {
    json doc;
    try {
      doc = json::parse(text);
    } catch (const std::exception&) {
      continue;  // DocView::json() is always JSON
    }
    const std::string name =
        doc.contains("metadata") ? string_at(doc["metadata"], "name") : std::string();
    std::string owner = name;
    if (doc.contains("spec") && doc["spec"].is_object() && doc["spec"].contains("cluster"))
      owner = string_at(doc["spec"], "cluster");
    auto it = std::find_if(plans.begin(), plans.end(),
                           [&](const plan::DevicePlan& p) { return p.name == owner; });
    if (it == plans.end())
      continue;
    const std::size_t index = static_cast<std::size_t>(it - plans.begin());
    auto outcomes = policies.evaluate(input_of(doc, &*it).dump(), today);
    if (!outcomes)
      continue;
    const std::string what = owner == name ? std::string() : string_at(doc, "kind") + " " + name;
    for (auto& o : *outcomes) {
      if (o.verdict != Verdict::kSkip)
        found.push_back(Found{index, what, std::move(o)});
    }
  }
  for (auto& f : found) {
    plan::DevicePlan& p = plans[f.plan];
    const Outcome& o = f.outcome;
    const std::string message =
        f.document.empty() ? o.message : o.message + " (" + f.document + ")";
    results[f.plan].push_back(
        DeviceResult{o.policy, o.severity, to_string(o.verdict), message, o.waiver});
    if (o.waiver && o.waiver->expired && o.verdict == Verdict::kFail) {
      p.notes.push_back("policy " + o.policy + ": the waiver approved by " + o.waiver->approved_by +
                        " expired on " + o.waiver->expires + " (" + o.waiver->reason + ")");
    }
    if (o.verdict == Verdict::kWaived) {
      p.notes.push_back("policy " + o.policy + " (" + o.severity + "): " + message +
                        "; waived by " + o.waiver->approved_by + " until " + o.waiver->expires +
                        ": " + o.waiver->reason);
    } else if (o.verdict == Verdict::kFail && o.severity == "warn") {
      p.notes.push_back("policy " + o.policy + " (warn): " + message);
    } else if (o.verdict == Verdict::kFail && !p.error) {
      plan::Action a;
      a.kind = plan::kind::kBlocked;
      a.action_class = plan::ActionClass::kBlocked;
      a.summary = "policy " + o.policy + ": " + message;
      a.reason = "the enforced policy " + o.policy +
                 " fails; change the manifest, or add a waiver with an approver, a reason and an "
                 "expiry date to the policy (docs/policies.md)";
      p.actions.push_back(std::move(a));
    }
  }
  return results;
}

std::string render_json(const std::vector<plan::DevicePlan>& plans, const Results& results) {
  std::string text = plan::render_json(plans);
  if (std::all_of(results.begin(), results.end(), [](const auto& r) { return r.empty(); }))
    return text;
  // plan/ renders with an ordered JSON and an indent of 2: parsed and dumped the same way, the
  // output is byte for byte the same plus `policies` at the end of each device that has any.
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text);
  auto& devices = doc["devices"];
  for (std::size_t i = 0; i < results.size() && i < devices.size(); ++i) {
    if (results[i].empty())
      continue;
    auto list = nlohmann::ordered_json::array();
    for (const auto& r : results[i]) {
      nlohmann::ordered_json j;
      j["name"] = r.name;
      j["severity"] = r.severity;
      j["result"] = r.result;
      j["message"] = r.message;
      if (r.waiver) {
        j["waiver"] = {{"approvedBy", r.waiver->approved_by},
                       {"expires", r.waiver->expires},
                       {"reason", r.waiver->reason},
                       {"expired", r.waiver->expired}};
      } else {
        j["waiver"] = nullptr;
      }
      list.push_back(std::move(j));
    }
    devices[i]["policies"] = std::move(list);
  }
  return doc.dump(2) + "\n";
}

std::vector<std::string> run_test(const PolicySet& policies, const TestCase& test) {
  std::vector<std::string> wrong;
  const std::string today = test.today.empty() ? today_utc() : test.today;
  auto outcomes = policies.evaluate(test.input_json, today);
  if (!outcomes) {
    wrong.push_back(outcomes.error().message);
    return wrong;
  }
  for (const auto& [name, expected] : test.expect) {
    auto it = std::find_if(outcomes->begin(), outcomes->end(),
                           [&](const Outcome& o) { return o.policy == name; });
    if (it == outcomes->end()) {
      wrong.push_back("policy " + name + ": no policy of that name was loaded");
      continue;
    }
    const std::string got = to_string(it->verdict);
    if (got != expected)
      wrong.push_back("policy " + name + ": expected " + expected + ", got " + got);
  }
  return wrong;
}

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace hsmctl::policy
