// SPDX-License-Identifier: Apache-2.0
#pragma once
// Policies: organisation rules evaluated by `plan` and `apply` between planning and applying
// (ARCHITECTURE.md "Data flow": plan -> policy check -> apply; docs/policies.md). A Policy
// document (schemas/policy.v1alpha1.schema.json) selects manifest documents by kind and labels
// and holds JSON Schema conditions (`deny`: fails when the input matches; `require`: fails when
// it does not) over the policy input of each selected document:
//
//   {"kind": ..., "metadata": {"name": ..., "labels": {...}}, "spec": <the document's spec:
//    secret references, never values>, "plan": <its device's object as in `plan -o json`>}
//
// An `enforce` failure becomes a blocked action of the device's plan (so `plan
// --detailed-exitcode` exits 3 and apply refuses), a `warn` failure a note; a waiver with an
// approver, a reason and an expiry date turns a failure into "waived" until that day (UTC).
// valijson and the JSON library stay inside this module's .cpp files.

#include "hsmctl/manifest/doc_view.hpp"
#include "hsmctl/plan/plan.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::policy {

/// What one policy says about one input.
enum class Verdict {
  kSkip,    ///< the policy does not select the input (kind or labels)
  kPass,    ///< selected, no violation
  kFail,    ///< violated and not waived (also when the only waiver has expired)
  kWaived,  ///< violated, and a waiver naming the document holds until today or later
};

const char* to_string(Verdict verdict);

/// A waiver that names a document: who approved it, until when (the last day it waives,
/// YYYY-MM-DD, UTC) and why. An expired waiver waives nothing but is still reported.
struct Waiver {
  std::string approved_by;
  std::string expires;
  std::string reason;
  bool expired = false;
};

struct Outcome {
  std::string policy;    ///< metadata.name of the Policy
  std::string severity;  ///< "enforce" or "warn"
  Verdict verdict = Verdict::kSkip;
  std::string message;  ///< the policy's message
  /// The waiver that names the document (the one in force, else the last to expire).
  std::optional<Waiver> waiver;
};

/// One policy's result for one device, as `plan -o json` shows it in `policies`.
struct DeviceResult {
  std::string name;      ///< the policy
  std::string severity;  ///< "enforce" or "warn"
  std::string result;    ///< "pass", "fail" or "waived"
  std::string message;   ///< the policy's message (naming the document when not the device's own)
  std::optional<Waiver> waiver;
};

/// Per plan (in plan order), the results of the policies that selected its documents.
using Results = std::vector<std::vector<DeviceResult>>;

/// A PolicyTest document (schemas/policytest.v1alpha1.schema.json): an input and the expected
/// verdict per policy name ("pass", "fail", "waived", "skip").
struct TestCase {
  std::string name;
  SourcePos where;
  std::string today;  ///< YYYY-MM-DD, or empty for today_utc()
  std::string input_json;
  std::map<std::string, std::string> expect;
};

/// The Policy documents of one load, with their rules compiled.
class PolicySet {
 public:
  PolicySet();
  ~PolicySet();
  PolicySet(PolicySet&&) noexcept;
  PolicySet& operator=(PolicySet&&) noexcept;
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  bool empty() const;
  std::size_t size() const;

  /// Every policy's verdict on `input_json` (the documented input shape), in load order.
  /// `today` (YYYY-MM-DD) decides which waivers hold. Errc::kManifest when the input is not a
  /// JSON object.
  Result<std::vector<Outcome>> evaluate(const std::string& input_json,
                                        std::string_view today) const;

  struct Impl;

 private:
  friend struct Access;
  std::unique_ptr<Impl> impl_;
};

/// Policies and test cases read from files.
struct Loaded {
  PolicySet policies;
  std::vector<TestCase> tests;
};

/// Reads each path (file, directory of *.yaml/*.yml, not recursive, or "-") as manifest/ reads
/// manifests: every document must be a Policy (or a PolicyTest when `with_tests`), validated by
/// its schema; a rule that is not a valid JSON Schema and duplicate policy names are errors.
/// Every error goes to `diagnostics` (file:line:column: spec.path: message); call
/// diagnostics.end_files() is done here.
Loaded load(const std::vector<std::string>& paths, bool with_tests,
            manifest::Diagnostics& diagnostics);
/// The same over one in-memory document stream; `file_name` is used in positions.
Loaded load_text(const std::string& text, const std::string& file_name, bool with_tests,
                 manifest::Diagnostics& diagnostics);

/// The policy input of one manifest document (its JSON, as manifest::DocView::json()) and its
/// device's plan (nullptr: "plan" is null).
std::string make_input(const std::string& document_json, const plan::DevicePlan* device_plan);

/// The policy check of a run. Each document belongs to the plan named by its `spec.cluster`
/// (a Primus partition) or else its metadata.name; documents without a plan (not selected) are
/// not evaluated. Every plan is evaluated as it came from the planner, then amended: an
/// enforce failure becomes a blocked action ("policy NAME: MESSAGE"; not on a plan with an
/// error), a warn failure, a waiver and an expired waiver a note. Returns every verdict other
/// than skip, per plan.
Results check(const PolicySet& policies, const std::vector<std::string>& document_jsons,
              std::vector<plan::DevicePlan>& plans, std::string_view today);

/// `plan -o json` with each device's `policies` (schemas/plan.v1alpha1.schema.json): the member
/// is added to the devices that have results and only to them (no policies: plan::render_json).
std::string render_json(const std::vector<plan::DevicePlan>& plans, const Results& results);

/// What one test case got wrong (empty: it passed): "policy NAME: expected fail, got pass".
std::vector<std::string> run_test(const PolicySet& policies, const TestCase& test);

/// Today's date in UTC, YYYY-MM-DD.
std::string today_utc();

}  // namespace hsmctl::policy
