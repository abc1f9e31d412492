// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "hsmctl/plan/plan.hpp"

namespace hsmctl::plan {
namespace {

struct Style {
  bool color;
  std::string paint(const std::string& text, const char* code) const {
    return color ? fmt::format("\x1b[{}m{}\x1b[0m", code, text) : text;
  }
  std::string green(const std::string& t) const { return paint(t, "32"); }
  std::string yellow(const std::string& t) const { return paint(t, "33"); }
  std::string red(const std::string& t) const { return paint(t, "31"); }
  std::string bold(const std::string& t) const { return paint(t, "1"); }
};

std::string symbol(ActionClass c, const Style& s) {
  switch (c) {
    case ActionClass::kCreate:
      return s.green("  +");
    case ActionClass::kUpdate:
      return s.yellow("  ~");
    case ActionClass::kReinitialize:
      return s.red("-/+");
    case ActionClass::kDestroy:
      return s.red("  -");
    case ActionClass::kBlocked:
      return s.red("  !");
  }
  return "  ?";
}

std::string device_label(const DevicePlan& p) {
  std::string label = "\"" + p.name + "\"";
  if (!p.serial.empty()) label += " (serial " + p.serial + ")";
  if (!p.transport.empty()) label += " via " + p.transport;
  return label;
}

}  // namespace

std::string render_text(const std::vector<DevicePlan>& plans, bool color) {
  const Style s{color};
  std::string out;
  int creates = 0, updates = 0, reinits = 0, destroys = 0, blocked = 0;
  for (const auto& p : plans) {
    creates += p.count(ActionClass::kCreate);
    updates += p.count(ActionClass::kUpdate);
    reinits += p.count(ActionClass::kReinitialize);
    destroys += p.count(ActionClass::kDestroy);
    blocked += p.count(ActionClass::kBlocked);
    if (p.actions.empty()) {
      out += fmt::format("{} device {} matches the manifest.\n", s.green("✓"), device_label(p));
    } else {
      out += fmt::format("{} device {}:\n", s.bold("#"), device_label(p));
      for (const auto& a : p.actions) {
        if (a.action_class == ActionClass::kReinitialize) {
          out += "\n" + s.red("  # RE-INITIALIZATION: every key on this device is wiped") + "\n";
        }
        out += fmt::format("{} {}\n", symbol(a.action_class, s), a.summary);
        for (const auto& c : a.changes) {
          out += fmt::format("      {}: {} -> {}{}\n", c.path, c.before, c.after,
                             c.forces_reinit ? s.red("   # forces re-initialization") : "");
        }
        if (!a.reason.empty()) {
          out += fmt::format("      ({}: {})\n", a.action_class == ActionClass::kBlocked ? "blocked" : "why",
                             a.reason);
        }
        for (const auto& l : a.would_lose) {
          out += fmt::format("      {} {}\n", s.red("would lose:"), l);
        }
      }
    }
    for (const auto& n : p.notes) out += fmt::format("  note: {}\n", n);
    out += "\n";
  }
  if (creates + updates + reinits + destroys + blocked == 0) {
    out += s.green("No changes.") + " The devices match the manifests.\n";
  } else {
    out += fmt::format("Plan: {} to create, {} to change in place, {} to re-initialize{}{}.\n",
                       creates, updates, reinits,
                       destroys ? fmt::format(", {} to destroy", destroys) : std::string(),
                       blocked ? fmt::format(", {} blocked", blocked) : std::string());
    if (reinits > 0) {
      out += s.red("Re-initialization wipes all keys; apply does it only with --allow-reinit.") +
             "\n";
    }
  }
  return out;
}

std::string render_json(const std::vector<DevicePlan>& plans) {
  nlohmann::ordered_json doc;
  doc["format_version"] = "hsmctl.dev/plan/v1alpha1";
  doc["devices"] = nlohmann::ordered_json::array();
  int changes = 0;
  for (const auto& p : plans) {
    nlohmann::ordered_json d;
    d["name"] = p.name;
    d["serial"] = p.serial;
    d["transport"] = p.transport;
    d["initialized"] = p.initialized;
    d["has_changes"] = p.has_changes();
    d["needs_reinit"] = p.needs_reinit();
    d["actions"] = nlohmann::ordered_json::array();
    for (const auto& a : p.actions) {
      nlohmann::ordered_json j;
      j["kind"] = to_string(a.kind);
      j["class"] = to_string(a.action_class);
      j["summary"] = a.summary;
      j["reason"] = a.reason;
      if (a.key_domain >= 0) j["key_domain"] = a.key_domain;
      j["changes"] = nlohmann::ordered_json::array();
      for (const auto& c : a.changes) {
        j["changes"].push_back({{"path", c.path},
                                {"before", c.before},
                                {"after", c.after},
                                {"forces_reinit", c.forces_reinit}});
      }
      j["would_lose"] = a.would_lose;
      d["actions"].push_back(std::move(j));
    }
    d["notes"] = p.notes;
    if (p.has_changes()) ++changes;
    doc["devices"].push_back(std::move(d));
  }
  doc["summary"] = {{"devices", plans.size()}, {"devices_with_changes", changes}};
  return doc.dump(2) + "\n";
}

}  // namespace hsmctl::plan
