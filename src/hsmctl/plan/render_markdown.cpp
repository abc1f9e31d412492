// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan -o markdown`: the plan as a merge-request comment (GitHub/GitLab flavoured
// Markdown). Like the text output it holds no secret (the plan has none: only "(sensitive)"
// placeholders). Every string that comes from a manifest, a device or a message is escaped by
// md() so that it cannot open markup, a table cell, a link, an HTML tag or a mention.

#include "hsmctl/plan/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace hsmctl::plan {
namespace {

const char* symbol(ActionClass c) {
  switch (c) {
    case ActionClass::kCreate:
      return "+";
    case ActionClass::kUpdate:
      return "~";
    case ActionClass::kReinitialize:
      return "-/+";
    case ActionClass::kDestroy:
      return "-";
    case ActionClass::kBlocked:
      return "!";
  }
  return "?";
}

std::string label(const DevicePlan& p) {
  std::string out = "device **" + markdown_escape(p.name) + "**";
  if (!p.serial.empty())
    out += " (serial " + markdown_escape(p.serial) + ")";
  if (!p.transport.empty())
    out += " via " + markdown_escape(p.transport);
  return out;
}

}  // namespace

std::string markdown_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '\n':
      case '\r':
      case '\t':
        out += ' ';  // a line break would end a table row or start a block
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\\':
      case '`':
      case '*':
      case '_':
      case '[':
      case ']':
      case '|':
      case '~':
      case '#':
      case '@':
      case '$':
        out += '\\';
        out += c;
        break;
      default:
        // Other control characters have no place in a comment.
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string render_markdown(const std::vector<DevicePlan>& plans) {
  std::string out = "### hsmctl plan\n\n";
  const PlanTotals totals = PlanTotals::of(plans);
  const int creates = totals.creates, updates = totals.updates, reinits = totals.reinits,
            destroys = totals.destroys, blocked = totals.blocked, pending = totals.pending;
  const int errors = totals.errors;
  if (totals.actions() == 0) {
    if (errors == 0) {
      out += "**No changes.** The devices match the manifests" +
             (pending > 0 ? fmt::format("; {} operator step(s) pending", pending) : std::string()) +
             ".\n\n";
    }
  } else {
    out += fmt::format(
        "**Plan:** {} to create, {} to change in place, {} to re-initialize{}{}.\n\n", creates,
        updates, reinits, destroys ? fmt::format(", {} to destroy", destroys) : std::string(),
        blocked ? fmt::format(", **{} blocked**", blocked) : std::string());
  }
  if (plans.size() > 1 || errors > 0 || blocked > 0) {
    out += fmt::format("Devices: {} ok, {} with changes, {} blocked, {} failed.\n\n", totals.ok,
                       totals.with_changes, totals.devices_blocked, errors);
  }
  if (reinits > 0) {
    out +=
        "> **Warning**\n> Re-initialization wipes all keys; apply does it only with "
        "`--allow-reinit`.\n\n";
  }
  if (blocked > 0) {
    out +=
        "> **Warning**\n> Blocked actions need an operator (see each reason); apply changes "
        "nothing while any device is blocked.\n\n";
  }
  if (errors > 0) {
    out += fmt::format(
        "> **Warning**\n> {} device(s) could not be planned; their state is "
        "unknown.\n\n",
        errors);
  }

  for (const auto& p : plans) {
    const DeviceStatus status = p.status();
    switch (status) {
      case DeviceStatus::kError:
        out += "#### ✗ " + label(p) + ": error\n\n";
        out += "**Error:** " + markdown_escape(p.error ? p.error->message : "") + "\n\n";
        break;
      case DeviceStatus::kOk:
        out += "#### ✓ " + label(p) + ": matches the manifest\n\n";
        break;
      case DeviceStatus::kChanges:
        out += "#### " + label(p) + ": " + markdown_escape(device_summary(p)) + "\n\n";
        break;
      case DeviceStatus::kBlocked:
        out += "#### " + label(p) + ": **blocked**\n\n";
        break;
    }
    for (const auto& a : p.actions) {
      if (a.action_class != ActionClass::kReinitialize)
        continue;
      out += "> **Warning**\n> **Re-initialization**: every key on this device is wiped.\n";
      for (const auto& l : a.would_lose)
        out += "> - would lose: " + markdown_escape(l) + "\n";
      out += "\n";
    }
    if (!p.actions.empty()) {
      out += "| | action | changes | why |\n|---|---|---|---|\n";
      for (const auto& a : p.actions) {
        std::string changes;
        for (const auto& c : a.changes) {
          if (!changes.empty())
            changes += "<br>";
          changes += markdown_escape(c.path) + ": " + markdown_escape(c.before) + " → " +
                     markdown_escape(c.after);
          if (c.forces_reinit)
            changes += " **(forces re-initialization)**";
        }
        std::string why = markdown_escape(a.reason);
        if (a.action_class == ActionClass::kBlocked)
          why = "**blocked:** " + why;
        for (const auto& l : a.would_lose) {
          why += (why.empty() ? "" : "<br>") + std::string("**would lose:** ") + markdown_escape(l);
        }
        const bool loud = a.action_class == ActionClass::kReinitialize ||
                          a.action_class == ActionClass::kDestroy ||
                          a.action_class == ActionClass::kBlocked;
        const std::string summary = markdown_escape(a.summary);
        out += fmt::format("| `{}` | {} | {} | {} |\n", symbol(a.action_class),
                           loud ? "**" + summary + "**" : summary, changes, why);
      }
      out += "\n";
    }
    if (const auto& c = p.device_certificate) {
      // As the text plan shows it; the fingerprint as code so a reviewer can compare it whole.
      out += "- device certificate: " + markdown_escape(c->subject) + " issued by " +
             markdown_escape(c->issuer) + ", valid " +
             markdown_escape(c->valid_from.empty() ? "?" : c->valid_from) + ".." +
             markdown_escape(c->valid_until.empty() ? "?" : c->valid_until) + ", key fingerprint " +
             (c->fingerprint.empty() ? std::string("(none)")
              : std::all_of(c->fingerprint.begin(), c->fingerprint.end(),
                            [](unsigned char ch) { return std::isxdigit(ch) != 0; })
                  ? "`" + c->fingerprint + "`"
                  : markdown_escape(c->fingerprint)) +
             "\n";
      out += "- attestation: " +
             (c->attestation == "failed" ? std::string("**failed**")
                                         : markdown_escape(c->attestation)) +
             (c->detail.empty() ? std::string() : " (" + markdown_escape(c->detail) + ")") + "\n";
    }
    for (const auto& n : p.pending)
      out += "- pending: " + markdown_escape(n) + "\n";
    for (const auto& n : p.notes)
      out += "- note: " + markdown_escape(n) + "\n";
    if (!p.pending.empty() || !p.notes.empty() || p.device_certificate)
      out += "\n";
  }

  if (plans.size() > 1) {
    out += "| device | result |\n|---|---|\n";
    for (const auto& p : plans) {
      out += "| " + markdown_escape(p.name) + " | " + markdown_escape(device_summary(p)) + " |\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace hsmctl::plan
