// SPDX-License-Identifier: Apache-2.0
#pragma once
// A plan: per device (or Primus cluster), the ordered actions apply would run, and its
// renderers. Generic over device families (each family's planner, e.g.
// families/schsm_engine/diff.hpp, builds these); no I/O, no secrets, so plans can be rendered,
// saved and tested freely.

#include <any>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hsmctl::plan {

/// The kind of a blocked action, whatever the family: a difference hsmctl cannot fix; its reason
/// says what the operator can do. Every other kind is a family's (families/<f>/: e.g.
/// "initialize", "fetch-secret"), a lower-case word with hyphens (the plan schema's pattern).
namespace kind {
inline constexpr char kBlocked[] = "blocked";
}  // namespace kind

/// How disruptive an action is; drives the plan symbol and the apply guards.
enum class ActionClass {
  kCreate,        ///< "+": first initialization of a never-initialized device
  kUpdate,        ///< "~": in place, keys survive
  kReinitialize,  ///< "-/+": wipes every key on the device
  kDestroy,       ///< "-": removes something that cannot be recreated by hsmctl
  kBlocked,       ///< "!": cannot be applied
};

struct FieldChange {
  std::string path;    ///< "spec.pinRetries"
  std::string before;  ///< rendered value, "(sensitive)", "(unknown)" or "(absent)"
  std::string after;
  bool forces_reinit = false;
};

/// A rendered attribute of an action (a member of its JSON object, after "reason"): for
/// example a key domain's index, or the options word INITIALIZE writes (hex).
struct Attribute {
  std::string name;
  std::variant<long long, std::string> value;
};

struct Action {
  /// The family's kind ("initialize", "fetch-secret", ...) or kind::kBlocked.
  std::string kind = plan::kind::kBlocked;
  ActionClass action_class = ActionClass::kUpdate;
  std::string summary;  ///< "change user PIN", "set up key domain 1 with 2 DKEK shares"
  std::string reason;   ///< why this action, or for kBlocked what to do
  std::vector<FieldChange> changes;
  /// kReinitialize: what would be lost ("2 private keys", "the PKI-issued device certificate").
  std::vector<std::string> would_lose;
  /// Rendered in this order (JSON only); the family decides which.
  std::vector<Attribute> attributes;
  /// What apply needs to execute this action, a value type private to the family that planned
  /// it (read with std::any_cast; absent on blocked actions). Never a secret: values are
  /// resolved at apply time from what prepare() holds.
  std::any payload;
};

/// One device's result, the same in text and JSON (docs/exit-codes.md):
/// ok = matches the manifest, changes = apply would change it, blocked = some action needs an
/// operator (never "in sync"), error = the device could not be observed or planned.
enum class DeviceStatus { kOk, kChanges, kBlocked, kError };

/// Why a device could not be planned: a stable code (the Errc name, e.g. "unavailable") and a
/// one-line message without secrets.
struct DeviceError {
  std::string code;
  std::string message;
};

/// The device certificate as observed, shown when a manifest asks for device attestation
/// (docs/ceremonies.md "Device attestation"). All strings; no secrets.
struct DeviceCertificate {
  std::string subject;      ///< CHR of the device certificate
  std::string issuer;       ///< its CAR
  std::string valid_from;   ///< "2023-03-21", empty when the certificate has no date
  std::string valid_until;  ///< "2070-12-31"
  std::string fingerprint;  ///< SHA-256 of the device key's uncompressed point, lower-case hex
  std::string attestation;  ///< "verified", "failed" or "not checked"
  std::string detail;       ///< how far trust reaches, or what failed
};

struct DevicePlan {
  std::string name;       ///< metadata.name
  std::string serial;     ///< chip serial as observed
  std::string transport;  ///< where the device was reached
  bool initialized = false;
  std::vector<Action> actions;
  /// Observations an operator should see even without changes (unknowns, risks).
  std::vector<std::string> notes;
  /// Set when the device could not be planned (then there are no actions).
  std::optional<DeviceError> error;
  /// Device state the manifest implies but hsmctl does not drive (yet): DKEK shares still to
  /// import, PKA keys still to register. Not a change and not blocked, never "matches".
  std::vector<std::string> pending;
  /// Set when the device certificate was read for attestation.
  std::optional<DeviceCertificate> device_certificate;

  DeviceStatus status() const;  ///< error > blocked > changes > ok
  bool has_changes() const;     ///< any action except kBlocked
  bool needs_reinit() const;    ///< a kReinitialize action is present
  bool has_blocked() const;
  int count(ActionClass c) const;
};

/// What a set of device plans adds up to (the totals line of every renderer).
struct PlanTotals {
  int creates = 0, updates = 0, reinits = 0, destroys = 0, blocked = 0, pending = 0;
  int ok = 0, with_changes = 0, devices_blocked = 0, errors = 0;  ///< devices by status()
  static PlanTotals of(const std::vector<DevicePlan>& plans);
  int actions() const { return creates + updates + reinits + destroys + blocked; }
};

/// Human output in the style of `terraform plan`. `color` adds ANSI colours.
std::string render_text(const std::vector<DevicePlan>& plans, bool color);
/// Machine output, validated by schemas/plan.v1alpha1.schema.json. Never contains secrets.
std::string render_json(const std::vector<DevicePlan>& plans);
/// `-o markdown`: for a merge-request comment (GitHub/GitLab flavoured Markdown). A heading per
/// device, its actions as a table, warnings as quote blocks, totals at the top and, for 2+
/// devices, a result per device at the end. Never contains secrets; every string from a
/// manifest, a device or a message goes through markdown_escape().
std::string render_markdown(const std::vector<DevicePlan>& plans);
/// Escapes `text` for Markdown inline text and table cells: HTML (`<`, `>`, `&`) as entities,
/// emphasis/code/link/table/mention/math characters with a backslash, line breaks and other
/// control characters as spaces.
std::string markdown_escape(std::string_view text);
/// One device's result as this run proved it, for the per-device summary of a multi-device plan:
/// "no changes", "1 to create", "2 to change, 1 to re-initialize", "blocked", "error".
std::string device_summary(const DevicePlan& plan);

const char* to_string(ActionClass action_class);
const char* to_string(DeviceStatus status);

}  // namespace hsmctl::plan
