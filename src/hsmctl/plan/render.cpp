// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/plan/plan.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

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
  if (!p.serial.empty())
    label += " (serial " + p.serial + ")";
  if (!p.transport.empty())
    label += " via " + p.transport;
  return label;
}

}  // namespace

std::string device_summary(const DevicePlan& p) {
  switch (p.status()) {
    case DeviceStatus::kError:
      return p.error && p.error->code == "interrupted" ? "error (not observed)" : "error";
    case DeviceStatus::kBlocked:
      return "blocked";
    case DeviceStatus::kOk:
      return p.pending.empty()
                 ? "no changes"
                 : fmt::format("no changes, {} operator step(s) pending", p.pending.size());
    case DeviceStatus::kChanges:
      break;
  }
  std::string out;
  auto add = [&](int n, const char* what) {
    if (n > 0)
      out += fmt::format("{}{} to {}", out.empty() ? "" : ", ", n, what);
  };
  add(p.count(ActionClass::kCreate), "create");
  add(p.count(ActionClass::kUpdate), "change");
  add(p.count(ActionClass::kReinitialize), "re-initialize");
  add(p.count(ActionClass::kDestroy), "destroy");
  return out;
}

PlanTotals PlanTotals::of(const std::vector<DevicePlan>& plans) {
  PlanTotals t;
  for (const auto& p : plans) {
    switch (p.status()) {
      case DeviceStatus::kOk:
        ++t.ok;
        break;
      case DeviceStatus::kChanges:
        ++t.with_changes;
        break;
      case DeviceStatus::kBlocked:
        ++t.devices_blocked;
        break;
      case DeviceStatus::kError:
        ++t.errors;
        break;
    }
    t.pending += static_cast<int>(p.pending.size());
    t.creates += p.count(ActionClass::kCreate);
    t.updates += p.count(ActionClass::kUpdate);
    t.reinits += p.count(ActionClass::kReinitialize);
    t.destroys += p.count(ActionClass::kDestroy);
    t.blocked += p.count(ActionClass::kBlocked);
  }
  return t;
}

std::string render_text(const std::vector<DevicePlan>& plans, bool color) {
  const Style s{color};
  std::string out;
  const PlanTotals totals = PlanTotals::of(plans);
  const int creates = totals.creates, updates = totals.updates, reinits = totals.reinits,
            destroys = totals.destroys, blocked = totals.blocked, pending = totals.pending;
  for (const auto& p : plans) {
    if (p.error) {
      out += fmt::format("{} device {}: {} {}\n", s.red("✗"), device_label(p), s.red("error:"),
                         p.error->message);
    } else if (p.actions.empty() && p.pending.empty()) {
      out += fmt::format("{} device {} matches the manifest.\n", s.green("✓"), device_label(p));
    } else if (p.actions.empty()) {
      out += fmt::format("{} device {} matches the manifest; operator steps pending:\n",
                         s.yellow("…"), device_label(p));
    } else {
      out += fmt::format("{} device {}{}:\n", s.bold("#"), device_label(p),
                         p.has_blocked() ? s.red(" (blocked)") : std::string());
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
          out += fmt::format("      ({}: {})\n",
                             a.action_class == ActionClass::kBlocked ? "blocked" : "why", a.reason);
        }
        for (const auto& l : a.would_lose) {
          out += fmt::format("      {} {}\n", s.red("would lose:"), l);
        }
      }
    }
    if (const auto& c = p.device_certificate) {
      out +=
          fmt::format("  device certificate: {} issued by {}, valid {}..{}, key fingerprint {}\n",
                      c->subject, c->issuer, c->valid_from.empty() ? "?" : c->valid_from,
                      c->valid_until.empty() ? "?" : c->valid_until, c->fingerprint);
      out += fmt::format("  attestation: {}{}\n",
                         c->attestation == "failed" ? s.red(c->attestation) : c->attestation,
                         c->detail.empty() ? "" : " (" + c->detail + ")");
    }
    for (const auto& n : p.pending)
      out += fmt::format("  {} {}\n", s.yellow("pending:"), n);
    for (const auto& n : p.notes)
      out += fmt::format("  note: {}\n", n);
    out += "\n";
  }
  const int errors = totals.errors;
  if (totals.actions() == 0) {
    // "No changes" only when every device was planned and matches.
    if (errors == 0) {
      out += s.green("No changes.") +
             (pending > 0 ? fmt::format(" The devices match the manifests; {} operator step(s) "
                                        "pending (above).\n",
                                        pending)
                          : std::string(" The devices match the manifests.\n"));
    }
  } else {
    out += fmt::format("Plan: {} to create, {} to change in place, {} to re-initialize{}{}.\n",
                       creates, updates, reinits,
                       destroys ? fmt::format(", {} to destroy", destroys) : std::string(),
                       blocked ? fmt::format(", {} blocked", blocked) : std::string());
    if (reinits > 0) {
      out +=
          s.red("Re-initialization wipes all keys; apply does it only with --allow-reinit.") + "\n";
    }
  }
  if (errors > 0 || blocked > 0) {
    out += fmt::format("Devices: {} ok, {} with changes, {} blocked, {} failed.\n", totals.ok,
                       totals.with_changes, totals.devices_blocked, errors);
  }
  if (blocked > 0) {
    out += s.red(
               "Blocked actions need an operator (see each reason); apply changes nothing while "
               "any device is blocked.") +
           "\n";
  }
  if (errors > 0) {
    out += s.red(fmt::format("{} device(s) could not be planned (errors above); their state is "
                             "unknown.",
                             errors)) +
           "\n";
  }
  if (plans.size() > 1) {
    // One line per device or cluster, only what this run proved (docs/review.md).
    std::size_t width = 0;
    for (const auto& p : plans)
      width = std::max(width, p.name.size());
    out += "\nPer device:\n";
    for (const auto& p : plans) {
      const std::string result = device_summary(p);
      const DeviceStatus st = p.status();
      out += fmt::format("  {:<{}}  {}\n", p.name, width,
                         st == DeviceStatus::kOk        ? s.green(result)
                         : st == DeviceStatus::kChanges ? s.yellow(result)
                                                        : s.red(result));
    }
  }
  return out;
}

std::string render_json(const std::vector<DevicePlan>& plans) {
  nlohmann::ordered_json doc;
  doc["format_version"] = "hsmctl.dev/plan/v1alpha1";
  doc["devices"] = nlohmann::ordered_json::array();
  int by_status[4] = {0, 0, 0, 0};
  for (const auto& p : plans) {
    const DeviceStatus status = p.status();
    ++by_status[static_cast<int>(status)];
    nlohmann::ordered_json d;
    d["name"] = p.name;
    d["status"] = to_string(status);
    if (p.error)
      d["error"] = {{"code", p.error->code}, {"message", p.error->message}};
    d["serial"] = p.serial;
    d["transport"] = p.transport;
    d["initialized"] = p.initialized;
    // Not in sync: apply would change the device, or something is blocked.
    d["has_changes"] = status == DeviceStatus::kChanges || status == DeviceStatus::kBlocked;
    d["has_blocked"] = p.has_blocked();
    d["needs_reinit"] = p.needs_reinit();
    d["actions"] = nlohmann::ordered_json::array();
    for (const auto& a : p.actions) {
      nlohmann::ordered_json j;
      j["kind"] = a.kind;
      j["class"] = to_string(a.action_class);
      j["summary"] = a.summary;
      j["reason"] = a.reason;
      for (const auto& attr : a.attributes) {
        std::visit([&](const auto& v) { j[attr.name] = v; }, attr.value);
      }
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
    doc["devices"].push_back(std::move(d));
  }
  const int changes = by_status[static_cast<int>(DeviceStatus::kChanges)];
  const int blocked = by_status[static_cast<int>(DeviceStatus::kBlocked)];
  doc["summary"] = {{"devices", plans.size()},
                    {"devices_with_changes", changes + blocked},
                    {"ok", by_status[static_cast<int>(DeviceStatus::kOk)]},
                    {"changes", changes},
                    {"blocked", blocked},
                    {"error", by_status[static_cast<int>(DeviceStatus::kError)]}};
  return doc.dump(2) + "\n";
}

}  // namespace hsmctl::plan
