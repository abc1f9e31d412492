// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/plan/saved.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <variant>

namespace hsmctl::plan {
namespace {

using Json = nlohmann::json;  // sorted keys: dump() of the body is its canonical text

constexpr ActionClass kClasses[] = {ActionClass::kCreate, ActionClass::kUpdate,
                                    ActionClass::kReinitialize, ActionClass::kDestroy,
                                    ActionClass::kBlocked};

/// Canonical text never throws on bytes that are not UTF-8 (a device may report anything).
std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

Json encode_plan(const DevicePlan& p) {
  Json d;
  d["name"] = p.name;
  d["serial"] = p.serial;
  d["transport"] = p.transport;
  d["initialized"] = p.initialized;
  if (p.error)
    d["error"] = {{"code", p.error->code}, {"message", p.error->message}};
  d["actions"] = Json::array();
  for (const auto& a : p.actions) {
    Json j;
    j["kind"] = a.kind;
    j["class"] = to_string(a.action_class);
    j["summary"] = a.summary;
    j["reason"] = a.reason;
    j["changes"] = Json::array();
    for (const auto& c : a.changes) {
      j["changes"].push_back({{"path", c.path},
                              {"before", c.before},
                              {"after", c.after},
                              {"forces_reinit", c.forces_reinit}});
    }
    j["would_lose"] = a.would_lose;
    j["attributes"] = Json::array();
    for (const auto& attr : a.attributes) {
      Json v;
      std::visit([&](const auto& value) { v = value; }, attr.value);
      j["attributes"].push_back({{"name", attr.name}, {"value", v}});
    }
    d["actions"].push_back(std::move(j));
  }
  d["notes"] = p.notes;
  d["pending"] = p.pending;
  if (const auto& c = p.device_certificate) {
    d["device_certificate"] = {{"subject", c->subject},
                               {"issuer", c->issuer},
                               {"valid_from", c->valid_from},
                               {"valid_until", c->valid_until},
                               {"fingerprint", c->fingerprint},
                               {"attestation", c->attestation},
                               {"detail", c->detail}};
  }
  return d;
}

DevicePlan decode_plan(const Json& d) {
  DevicePlan p;
  p.name = d.at("name").get<std::string>();
  p.serial = d.at("serial").get<std::string>();
  p.transport = d.at("transport").get<std::string>();
  p.initialized = d.at("initialized").get<bool>();
  if (d.contains("error")) {
    p.error = DeviceError{d["error"].at("code").get<std::string>(),
                          d["error"].at("message").get<std::string>()};
  }
  for (const auto& j : d.at("actions")) {
    Action a;
    a.kind = j.at("kind").get<std::string>();
    const auto cls = j.at("class").get<std::string>();
    const auto* it = std::find_if(std::begin(kClasses), std::end(kClasses),
                                  [&](ActionClass c) { return cls == to_string(c); });
    if (it == std::end(kClasses))
      throw std::invalid_argument("unknown action class \"" + cls + "\"");
    a.action_class = *it;
    a.summary = j.at("summary").get<std::string>();
    a.reason = j.at("reason").get<std::string>();
    for (const auto& c : j.at("changes")) {
      a.changes.push_back({c.at("path").get<std::string>(), c.at("before").get<std::string>(),
                           c.at("after").get<std::string>(), c.at("forces_reinit").get<bool>()});
    }
    a.would_lose = j.at("would_lose").get<std::vector<std::string>>();
    for (const auto& attr : j.at("attributes")) {
      const Json& v = attr.at("value");
      Attribute out{attr.at("name").get<std::string>(), std::string()};
      if (v.is_number_integer()) {
        out.value = v.get<long long>();
      } else {
        out.value = v.get<std::string>();
      }
      a.attributes.push_back(std::move(out));
    }
    p.actions.push_back(std::move(a));
  }
  p.notes = d.at("notes").get<std::vector<std::string>>();
  p.pending = d.at("pending").get<std::vector<std::string>>();
  if (d.contains("device_certificate")) {  // optional: older saved plans lack it
    const Json& c = d["device_certificate"];
    p.device_certificate = DeviceCertificate{
        c.at("subject").get<std::string>(),     c.at("issuer").get<std::string>(),
        c.at("valid_from").get<std::string>(),  c.at("valid_until").get<std::string>(),
        c.at("fingerprint").get<std::string>(), c.at("attestation").get<std::string>(),
        c.at("detail").get<std::string>()};
  }
  return p;
}

Json encode_body(const SavedPlan& s) {
  Json b;
  b["hsmctl_version"] = s.hsmctl_version;
  b["files"] = s.files;
  b["manifests"] = Json::array();
  for (const auto& m : s.manifests)
    b["manifests"].push_back({{"path", m.path}, {"sha256", m.sha256}});
  b["selection"] = {{"selectors", s.selectors}, {"targets", s.targets}};
  b["options"] = s.options;
  b["policies"] = {{"paths", s.policy_paths}, {"files", Json::array()}};
  for (const auto& m : s.policies)
    b["policies"]["files"].push_back({{"path", m.path}, {"sha256", m.sha256}});
  b["units"] = Json::array();
  for (const auto& u : s.units) {
    Json j;
    j["name"] = u.name;
    j["noun"] = u.noun;
    j["device"] = u.device_uri;
    j["observation"] = Json::array();
    for (const auto& [fact, value] : u.observation)
      j["observation"].push_back({{"fact", fact}, {"value", value}});
    j["plan"] = encode_plan(u.plan);
    b["units"].push_back(std::move(j));
  }
  return b;
}

SavedPlan decode_body(const Json& b) {
  SavedPlan s;
  s.hsmctl_version = b.at("hsmctl_version").get<std::string>();
  s.files = b.at("files").get<std::vector<std::string>>();
  for (const auto& m : b.at("manifests"))
    s.manifests.push_back({m.at("path").get<std::string>(), m.at("sha256").get<std::string>()});
  s.selectors = b.at("selection").at("selectors").get<std::vector<std::string>>();
  s.targets = b.at("selection").at("targets").get<std::vector<std::string>>();
  s.options = b.at("options").get<std::map<std::string, std::string>>();
  s.policy_paths = b.at("policies").at("paths").get<std::vector<std::string>>();
  for (const auto& m : b.at("policies").at("files"))
    s.policies.push_back({m.at("path").get<std::string>(), m.at("sha256").get<std::string>()});
  for (const auto& j : b.at("units")) {
    SavedUnit u;
    u.name = j.at("name").get<std::string>();
    u.noun = j.at("noun").get<std::string>();
    u.device_uri = j.at("device").get<std::string>();
    for (const auto& f : j.at("observation"))
      u.observation.emplace_back(f.at("fact").get<std::string>(), f.at("value").get<std::string>());
    u.plan = decode_plan(j.at("plan"));
    s.units.push_back(std::move(u));
  }
  return s;
}

/// Constant time in the length of the expected MAC.
bool same_mac(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string action_list(const DevicePlan& p) {
  if (p.error)
    return "error (" + p.error->message + ")";
  std::string out;
  for (const auto& a : p.actions)
    out += (out.empty() ? "" : "; ") + a.summary;
  return out.empty() ? "(no actions)" : out;
}

/// The device certificate part of a plan's canonical text ("" without one).
std::string canonical_certificate(const DevicePlan& p) {
  const Json d = encode_plan(p);
  return d.contains("device_certificate") ? dump(d["device_certificate"]) : std::string();
}

std::string certificate_summary(const DevicePlan& p) {
  if (!p.device_certificate)
    return "(none)";
  const auto& c = *p.device_certificate;
  return c.subject + " issued by " + c.issuer + ", key fingerprint " +
         (c.fingerprint.empty() ? "(none)" : c.fingerprint) + ", attestation " + c.attestation;
}

}  // namespace

std::string encode_saved_plan(const SavedPlan& saved, const PlanMac& mac) {
  const Json body = encode_body(saved);
  nlohmann::ordered_json file;
  file["format_version"] = kSavedPlanFormat;
  file["hmac_sha256"] = mac(dump(body));
  file["plan"] = body;
  return file.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

Result<SavedPlan> decode_saved_plan(std::string_view text, const PlanMac& mac) {
  Json file = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (file.is_discarded() || !file.is_object() || !file.contains("format_version") ||
      !file["format_version"].is_string()) {
    return make_error(Errc::kRefused, "not a saved hsmctl plan (no format_version)");
  }
  const auto version = file["format_version"].get<std::string>();
  if (version != kSavedPlanFormat) {
    return make_error(Errc::kRefused, "saved plan format \"" + version +
                                          "\" is not supported: this hsmctl reads " +
                                          kSavedPlanFormat + "; make the plan again");
  }
  if (!file.contains("hmac_sha256") || !file["hmac_sha256"].is_string() || !file.contains("plan") ||
      !file["plan"].is_object()) {
    return make_error(Errc::kRefused, "malformed saved plan: no hmac_sha256 or no plan");
  }
  if (!same_mac(mac(dump(file["plan"])), file["hmac_sha256"].get<std::string>())) {
    return make_error(Errc::kRefused,
                      "the saved plan failed its integrity check: it was changed after `plan "
                      "-out` wrote it, or was written with another credential store");
  }
  try {
    return decode_body(file["plan"]);
  } catch (const std::exception& e) {
    return make_error(Errc::kRefused, std::string("malformed saved plan: ") + e.what());
  }
}

std::string canonical_plan(const DevicePlan& plan) {
  return dump(encode_plan(plan));
}

std::string plan_difference(const DevicePlan& saved, const DevicePlan& fresh) {
  if (canonical_plan(saved) == canonical_plan(fresh))
    return {};
  const std::string before = action_list(saved), after = action_list(fresh);
  if (before != after)
    return "actions: " + before + " → " + after;
  if (saved.serial != fresh.serial)
    return "serial " + saved.serial + " → " + fresh.serial;
  if (saved.notes != fresh.notes || saved.pending != fresh.pending)
    return "its notes or pending steps changed";
  if (canonical_certificate(saved) != canonical_certificate(fresh)) {
    return "its device certificate changed: " + certificate_summary(saved) + " → " +
           certificate_summary(fresh);
  }
  return "the details of its actions (changes, reasons or attributes) changed";
}

}  // namespace hsmctl::plan
