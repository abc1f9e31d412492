// SPDX-License-Identifier: Apache-2.0
// The exit-code contract (docs/exit-codes.md), one row per command x outcome, for both kinds:
// ok / changes / blocked / error / usage / invalid manifest / unavailable. Plans in JSON are
// checked against the schema and carry each device's status; errors never read "No changes".

#include "cli/cli_fixture.hpp"
#include "support/plan_schema.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// The state a row starts from.
enum class Given {
  kNone,             ///< no device file, valid Pico manifest
  kFresh,            ///< same (a simulator file is created on first use)
  kSynced,           ///< the Pico manifest was applied
  kBlocked,          ///< applied, then the SO PIN changed behind hsmctl's back (store lost)
  kSecretMissing,    ///< USER_PIN is not set
  kUnavailable,      ///< pcsc: without a pcscd
  kDeviceError,      ///< a simulator file in a directory that does not exist
  kTwoOneFails,      ///< two Pico manifests; the second device (pcsc:) is unavailable
  kInvalid,          ///< a manifest with a schema error
  kEmptyFile,        ///< an empty file
  kOnlySeparator,    ///< only `---`
  kOnlyComments,     ///< only comments
  kPrimusChanges,    ///< a fresh Primus partition, secrets available
  kPrimusBlocked,    ///< a fresh Primus partition whose setup password cannot be resolved
  kSigintMidApply,   ///< synced, then new PINs; SIGINT during step 1 of 2 (simulator test hook)
  kSigtermMidApply,  ///< the same with SIGTERM
  kSigintObserving,  ///< two synced devices; SIGINT during the first one's observation
};

struct Row {
  const char* name;
  Given setup;
  std::vector<std::string> args;  ///< "{m}": the manifest file(s), "{dev}", "{ppin}"
  int exit_code;
  /// For `-o json`: each device's status in order ("error:CODE" for errors).
  std::vector<std::string> statuses = {};
  /// Must appear on stderr (e.g. a "did you mean").
  std::string err_has = {};
  /// Must appear on stdout.
  std::string out_has = {};
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << row.name;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

class ExitCodes : public CliTest, public ::testing::WithParamInterface<Row> {
 protected:
  /// Prepares the row's state; returns the manifest files.
  std::vector<std::string> prepare(Given setup) {
    const std::string pico = manifest_file(pico_manifest());
    switch (setup) {
      case Given::kNone:
        return {pico};
      case Given::kFresh:
        touch_device(pico);
        return {pico};
      case Given::kSynced: {
        auto a = hsmctl({"apply", "-f", pico, "--device", device(), "--auto-approve"});
        EXPECT_EQ(a.exit_code, 0) << a.all();
        return {pico};
      }
      case Given::kBlocked: {
        auto a = hsmctl({"apply", "-f", pico, "--device", device(), "--auto-approve"});
        EXPECT_EQ(a.exit_code, 0) << a.all();
        // Someone else changed the SO PIN: hsmctl's store is gone and the manifest's new value
        // is not the device's. hsmctl cannot know the current one: blocked.
        std::filesystem::remove(dir_.file("store.hsmctl"));
        env_["SO_PIN"] = "1111111111111111";
        // The first plan spends the one allowed try on the manifest's value; from then on the
        // state is stable (no further VERIFY), so a row can compare the device before/after.
        auto p = hsmctl({"plan", "-f", pico, "--device", device(), "--detailed-exitcode"});
        EXPECT_EQ(p.exit_code, 3) << p.all();
        return {pico};
      }
      case Given::kSecretMissing:
        env_["USER_PIN"] = "";
        return {pico};
      case Given::kUnavailable:
        env_["PCSCLITE_CSOCK_NAME"] = dir_.file("no-pcscd");
        device_ = "pcsc:";
        return {pico};
      case Given::kDeviceError:
        device_ = "sim:" + dir_.file("no-such-dir/pico.json");
        return {pico};
      case Given::kTwoOneFails: {
        std::string other = pico_manifest("", "hsm-b");
        other.replace(other.find(kSerial), 16, "0A0B0C0D0E0F0001");
        const std::string b = manifest_file(other);
        touch_device(pico);
        env_["PCSCLITE_CSOCK_NAME"] = dir_.file("no-pcscd");
        device_ = "hsm-a=" + device();
        second_device_ = "hsm-b=pcsc:";
        return {pico, b};
      }
      case Given::kInvalid:
        return {manifest_file(pico_manifest("  pinRetries: 42\n"))};
      case Given::kEmptyFile:
        return {manifest_file("")};
      case Given::kOnlySeparator:
        return {manifest_file("---\n")};
      case Given::kOnlyComments:
        return {manifest_file("# nothing here\n# at all\n")};
      case Given::kPrimusChanges:
      case Given::kPrimusBlocked:
        return {primus(setup == Given::kPrimusBlocked)};
      case Given::kSigintMidApply:
      case Given::kSigtermMidApply: {
        auto a = hsmctl({"apply", "-f", pico, "--device", device(), "--auto-approve"});
        EXPECT_EQ(a.exit_code, 0) << a.all();
        env_["USER_PIN"] = "55512345";
        env_["SO_PIN"] = "1122334455667788";
        // docs/simulator.md: the signal is raised at the first CHANGE REFERENCE DATA.
        env_["HSMCTL_SIM_TEST_SIGNAL"] = setup == Given::kSigintMidApply ? "INT 24" : "TERM 24";
        return {pico};
      }
      case Given::kSigintObserving: {
        std::string other = pico_manifest("", "hsm-b");
        other.replace(other.find(kSerial), 16, "0A0B0C0D0E0F0002");
        const std::string b = manifest_file(other);
        device_ = "hsm-a=" + device();
        second_device_ = "hsm-b=sim:" + dir_.file("pico-b.json");
        auto a = hsmctl(expand({"apply", "{m}", "{dev}", "--auto-approve"}, {pico, b}));
        EXPECT_EQ(a.exit_code, 0) << a.all();
        // The first VERIFY of hsm-a's observation (only hsm-a's simulator raises it); the rows
        // observe one device at a time (--parallel 1) so that hsm-b is never started.
        env_["HSMCTL_SIM_TEST_SIGNAL"] = "INT 20 in:" + device().substr(4);
        return {pico, b};
      }
    }
    return {};
  }

  /// A plan creates the simulator file of a fresh device, so rows can compare before/after.
  void touch_device(const std::string& manifest) {
    auto p = hsmctl({"plan", "-f", manifest, "--device", device()});
    EXPECT_EQ(p.exit_code, 0) << p.all();
  }

  /// The shipped on-prem example pointed into this test, with the ppin double's state.
  std::string primus(bool blocked) {
    const std::string etc = dir_.file("etc/primus");
    std::filesystem::create_directories(etc);
    const std::string state = dir_.file("hsm-state.json");
    const std::string setup_pw = "bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG";
    env_["PPIN_DOUBLE_STATE"] = state;
    env_["PPIN_DOUBLE_NOW"] = "1800000000";
    env_["HSMCTL_PPIN_PASS_ENV"] =
        "PPIN_DOUBLE_STATE,PPIN_DOUBLE_NOW";  // the double's controls (test-only)
    env_["T_SETUP"] = blocked ? "" : setup_pw;
    env_["T_PIN"] = "pkcs11-Pin-4711";
    nlohmann::json user = {{"setupPassword", setup_pw},
                           {"issuedAt", 1800000000 - 3600},
                           {"lifespanHours", 72},
                           {"clockFrom", "FirstUse"},
                           {"secret", std::string(64, 'a')},
                           {"pkcs11Pin", "pkcs11-Pin-4711"}};
    write_text(state,
               nlohmann::json{{"version", "2.2.4"}, {"users", {{"PAYMENTS01", user}}}}.dump());
    std::string text = read_text(std::string(HSMCTL_SOURCE_DIR) + "/examples/primus/onprem.yaml");
    replace_all(text, "/etc/primus", etc);
    replace_all(text, "owner: root", "owner: " + std::string(getpwuid(getuid())->pw_name));
    replace_all(text, "group: primus", "group: " + std::string(getgrgid(getgid())->gr_name));
    replace_all(text, "env:PRIMUS_SETUP_PW_PAYMENTS01", "env:T_SETUP");
    replace_all(text, "store:primus.payments.pin", "env:T_PIN");
    return manifest_file(text);
  }

  std::vector<std::string> expand(const std::vector<std::string>& args,
                                  const std::vector<std::string>& manifests) {
    std::vector<std::string> out;
    for (const auto& a : args) {
      if (a == "{m}") {
        for (const auto& m : manifests) {
          out.push_back("-f");
          out.push_back(m);
        }
      } else if (a == "{dev}") {
        out.push_back("--device");
        out.push_back(device_.empty() ? device() : device_);
        if (!second_device_.empty()) {
          out.push_back("--device");
          out.push_back(second_device_);
        }
      } else if (a == "{ppin}") {
        out.push_back("--ppin");
        out.push_back(HSMCTL_PPIN_DOUBLE);
      } else {
        out.push_back(a);
      }
    }
    return out;
  }

  /// Everything a row may change: the simulator file and the Primus files.
  std::string device_state() {
    std::string s;
    for (const char* f : {"pico.json", "etc/primus/primus.cfg", "etc/primus/.secrets.cfg"}) {
      std::ifstream in(dir_.file(f));
      s += std::string(f) + "=" + (in ? read_text(dir_.file(f)) : "(absent)") + "\n";
    }
    return s;
  }

  std::string device_;
  std::string second_device_;
};

TEST_P(ExitCodes, Contract) {
  const Row& row = GetParam();
  const std::vector<std::string> manifests = prepare(row.setup);
  const std::string before = device_state();
  auto r = hsmctl(expand(row.args, manifests));
  EXPECT_EQ(r.exit_code, row.exit_code) << r.all();

  // Never a success line when something failed, was blocked or was not even planned.
  if (r.exit_code != 0 && r.exit_code != 2) {
    EXPECT_THAT(r.out, Not(HasSubstr("No changes"))) << r.all();
    EXPECT_THAT(r.out, Not(HasSubstr("Apply complete"))) << r.all();
  }
  // No raw library message reaches the user.
  EXPECT_THAT(r.all(), Not(HasSubstr("json.exception"))) << r.all();
  EXPECT_THAT(r.all(), Not(HasSubstr("internal error"))) << r.all();
  // apply is all-or-nothing: when it does not succeed, no device was touched (except when a
  // signal stopped it between steps: the steps before it were done, as the output says).
  if (row.args[0] == "apply" && r.exit_code != 0 && r.exit_code != 130 && r.exit_code != 143) {
    EXPECT_EQ(device_state(), before) << "a refused apply changed a device\n" << r.all();
  }
  if (!row.err_has.empty()) {
    EXPECT_THAT(r.err, HasSubstr(row.err_has));
  }
  if (!row.out_has.empty()) {
    EXPECT_THAT(r.out, HasSubstr(row.out_has));
  }
  if (!row.statuses.empty()) {
    EXPECT_EQ(plan_schema_errors(r.out), "") << r.out;
    auto doc = nlohmann::json::parse(r.out);
    std::vector<std::string> statuses;
    int counted = 0;
    for (const auto& d : doc["devices"]) {
      std::string s = d["status"];
      if (s == "error")
        s += ":" + d["error"]["code"].get<std::string>();
      statuses.push_back(s);
      EXPECT_EQ(d["has_changes"].get<bool>(), s == "changes" || s == "blocked") << d.dump();
    }
    for (const char* k : {"ok", "changes", "blocked", "error"}) {
      counted += doc["summary"][k].get<int>();
    }
    EXPECT_EQ(statuses, row.statuses) << r.out;
    EXPECT_EQ(counted, static_cast<int>(statuses.size())) << r.out;
  }
}

const Row kRows[] = {
    // PicoHSM: plan
    {"PlanFresh", Given::kFresh, {"plan", "{m}", "{dev}"}, 0},
    {"PlanDetailedChanges", Given::kFresh, {"plan", "{m}", "{dev}", "--detailed-exitcode"}, 2},
    {"PlanDetailedInSync", Given::kSynced, {"plan", "{m}", "{dev}", "--detailed-exitcode"}, 0},
    {"PlanJsonInSync", Given::kSynced, {"plan", "{m}", "{dev}", "-o", "json"}, 0, {"ok"}},
    {"PlanJsonChanges", Given::kFresh, {"plan", "{m}", "{dev}", "-o", "json"}, 0, {"changes"}},
    {"PlanBlocked", Given::kBlocked, {"plan", "{m}", "{dev}"}, 0},
    {"PlanDetailedBlocked", Given::kBlocked, {"plan", "{m}", "{dev}", "--detailed-exitcode"}, 3},
    {"PlanJsonDetailedBlocked",
     Given::kBlocked,
     {"plan", "{m}", "{dev}", "-o", "json", "--detailed-exitcode"},
     3,
     {"blocked"}},
    {"PlanSecretError",
     Given::kSecretMissing,
     {"plan", "{m}", "{dev}", "-o", "json"},
     1,
     {"error:secret"}},
    {"PlanUnavailable", Given::kUnavailable, {"plan", "{m}", "{dev}"}, 69},
    {"PlanDetailedUnavailable",
     Given::kUnavailable,
     {"plan", "{m}", "{dev}", "--detailed-exitcode", "-o", "json"},
     69,
     {"error:unavailable"}},
    {"PlanDeviceError",
     Given::kDeviceError,
     {"plan", "{m}", "{dev}", "-o", "json"},
     1,
     {"error:io"}},
    {"PlanOneDeviceFailsOtherStillShown",
     Given::kTwoOneFails,
     {"plan", "{m}", "{dev}", "-o", "json"},
     69,
     {"changes", "error:unavailable"}},
    {"PlanInvalidManifest", Given::kInvalid, {"plan", "{m}", "{dev}"}, 65},
    {"PlanEmptyFile", Given::kEmptyFile, {"plan", "{m}", "{dev}"}, 65},
    {"PlanOnlySeparator", Given::kOnlySeparator, {"plan", "{m}", "{dev}"}, 65},
    {"PlanOnlyComments", Given::kOnlyComments, {"plan", "{m}", "{dev}"}, 65},
    {"PlanDevNull", Given::kNone, {"plan", "-f", "/dev/null", "{dev}"}, 65},
    {"PlanUsage", Given::kFresh, {"plan", "{m}", "{dev}", "--bogus"}, 64},
    {"PlanAbbreviatedOption",
     Given::kFresh,
     {"plan", "{m}", "{dev}", "--detailed"},
     64,
     {},
     "did you mean '--detailed-exitcode'?"},
    {"PlanMisspelledOption",
     Given::kFresh,
     {"plan", "{m}", "{dev}", "--ouput", "json"},
     64,
     {},
     "did you mean '--output'?"},
    {"PlanUnknownDeviceName", Given::kFresh, {"plan", "{m}", "--device", "nosuch=sim:x.json"}, 64},
    {"PlanBadOutput", Given::kFresh, {"plan", "{m}", "{dev}", "-o", "xml"}, 64},
    // PicoHSM: apply
    {"ApplyFresh", Given::kFresh, {"apply", "{m}", "{dev}", "--auto-approve"}, 0},
    {"ApplyInSync", Given::kSynced, {"apply", "{m}", "{dev}", "--auto-approve"}, 0},
    {"ApplyBlocked", Given::kBlocked, {"apply", "{m}", "{dev}", "--auto-approve"}, 3},
    {"ApplySecretError", Given::kSecretMissing, {"apply", "{m}", "{dev}", "--auto-approve"}, 1},
    {"ApplyUnavailable", Given::kUnavailable, {"apply", "{m}", "{dev}", "--auto-approve"}, 69},
    {"ApplyDeviceError", Given::kDeviceError, {"apply", "{m}", "{dev}", "--auto-approve"}, 1},
    {"ApplyOneDeviceFailsNothingChanged",
     Given::kTwoOneFails,
     {"apply", "{m}", "{dev}", "--auto-approve"},
     69},
    {"ApplyInvalidManifest", Given::kInvalid, {"apply", "{m}", "{dev}", "--auto-approve"}, 65},
    {"ApplyEmptyFile", Given::kEmptyFile, {"apply", "{m}", "{dev}", "--auto-approve"}, 65},
    {"ApplyUsage", Given::kFresh, {"apply", "{m}", "{dev}", "--bogus"}, 64},
    {"ApplyAbbreviatedFlags",
     Given::kSynced,
     {"apply", "{m}", "{dev}", "--auto-a", "--allow-r"},
     64,
     {},
     "did you mean '--auto-approve'?"},
    {"ApplyUnconfirmed", Given::kFresh, {"apply", "{m}", "{dev}"}, 1},
    // get, validate, devices, store, the command word
    {"GetSynced", Given::kSynced, {"get", "{dev}"}, 0},
    {"GetUnavailable", Given::kUnavailable, {"get", "{dev}"}, 69},
    {"GetUsage", Given::kSynced, {"get", "{dev}", "--bogus"}, 64},
    {"ValidateOk", Given::kFresh, {"validate", "{m}"}, 0},
    {"ValidateInvalid", Given::kInvalid, {"validate", "{m}"}, 65},
    {"ValidateOnlyComments", Given::kOnlyComments, {"validate", "{m}"}, 65},
    {"ValidateUsage", Given::kFresh, {"validate", "{m}", "--bogus"}, 64},
    {"DevicesUsage", Given::kNone, {"devices", "--bogus"}, 64},
    {"StoreListAfterApply", Given::kSynced, {"store", "list"}, 0},
    {"StoreGetMissingEntry", Given::kSynced, {"store", "get", "no-such-entry"}, 1},
    {"StoreUnknownVerb", Given::kNone, {"store", "frobnicate"}, 64},
    {"StoreUsage", Given::kNone, {"store", "list", "--bogus"}, 64},
    {"UnknownCommand", Given::kNone, {"frobnicate"}, 64},
    {"NoColorAfterTheCommand", Given::kFresh, {"validate", "{m}", "--no-color"}, 0},
    {"VersionHelp", Given::kNone, {"version", "--help"}, 0, {}, {}, "Usage: hsmctl version"},
    {"VersionUsage", Given::kNone, {"version", "--bogus"}, 64},
    {"MisspelledCommand", Given::kNone, {"plna"}, 64, {}, "did you mean 'plan'?"},
    {"NoCommand", Given::kNone, {"--no-color"}, 64},
    // Primus
    {"PrimusPlanDetailedChanges",
     Given::kPrimusChanges,
     {"plan", "{m}", "{ppin}", "--detailed-exitcode", "-o", "json"},
     2,
     {"changes"}},
    {"PrimusPlanBlocked", Given::kPrimusBlocked, {"plan", "{m}", "{ppin}"}, 0},
    {"PrimusPlanDetailedBlocked",
     Given::kPrimusBlocked,
     {"plan", "{m}", "{ppin}", "--detailed-exitcode", "-o", "json"},
     3,
     {"blocked"}},
    {"PrimusApplyBlocked", Given::kPrimusBlocked, {"apply", "{m}", "{ppin}", "--auto-approve"}, 3},
    // Interrupted (docs/exit-codes.md "Interruption"): a clean stop, never a success line.
    {"ApplySigint",
     Given::kSigintMidApply,
     {"apply", "{m}", "{dev}", "--auto-approve"},
     130,
     {},
     "apply interrupted by SIGINT after step 1 of 2; step 2 not started",
     "interrupted by SIGINT after step 1 of 2"},
    {"ApplySigterm",
     Given::kSigtermMidApply,
     {"apply", "{m}", "{dev}", "--auto-approve"},
     143,
     {},
     "apply interrupted by SIGTERM after step 1 of 2"},
    {"PlanJsonSigint",
     Given::kSigintObserving,
     {"plan", "{m}", "{dev}", "-o", "json", "--parallel", "1"},
     130,
     {"ok", "error:interrupted"},
     "plan interrupted by SIGINT while observing the devices"},
    {"PlanDetailedSigint",
     Given::kSigintObserving,
     {"plan", "{m}", "{dev}", "--detailed-exitcode", "--parallel", "1"},
     130,
     {},
     "(not observed: hsm-b)"},
    {"PrimusApply", Given::kPrimusChanges, {"apply", "{m}", "{ppin}", "--auto-approve"}, 0},
    {"PrimusPlanUnavailable",
     Given::kPrimusChanges,
     {"plan", "{m}", "--ppin", "/nonexistent/ppin", "-o", "json"},
     69,
     {"error:unavailable"}},
};

INSTANTIATE_TEST_SUITE_P(Table, ExitCodes, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& row_info) {
                           return std::string(row_info.param.name);
                         });

}  // namespace
}  // namespace hsmctl::testing
