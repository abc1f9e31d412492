// SPDX-License-Identifier: Apache-2.0
// SIGINT / SIGTERM during `hsmctl apply` (docs/exit-codes.md "Interruption"), through the real
// binary: the simulator's test hook (HSMCTL_SIM_TEST_SIGNAL, docs/simulator.md) raises the
// signal inside hsmctl while a given command is on the wire, as a Ctrl-C from the terminal would
// arrive. First signal: the step completes with its store commit, no further step starts, exit
// 130/143 with a message saying what was and was not done. Second signal: death by the signal;
// the journal lets the next apply converge either way.

#include "cli/cli_fixture.hpp"
#include "support/plan_schema.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <signal.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// A factory-fresh device then has a two-step plan: initialize, set up key domain 0.
constexpr const char* kTwoStepExtra = "  keyDomains:\n    - dkekShares: 1\n";

class Interrupt : public CliTest {
 protected:
  /// Applies the manifest with the first PINs, then switches the environment to new PINs:
  /// the next plan has two steps (change SO PIN, change user PIN).
  std::string synced_then_new_pins() {
    const std::string m = manifest_file(pico_manifest());
    auto a = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
    EXPECT_EQ(a.exit_code, 0) << a.all();
    env_["USER_PIN"] = "55512345";
    env_["SO_PIN"] = "1122334455667788";
    return m;
  }
  /// Two devices (hsm-a on device(), hsm-b on its own simulator file), applied and in sync;
  /// returns the arguments every later command of the test appends: both manifests, both
  /// devices and `--parallel N`.
  std::vector<std::string> two_synced_devices(int parallel) {
    std::string second = pico_manifest("", "hsm-b");
    second.replace(second.find(kSerial), 16, "1112131415161718");
    const std::string a = manifest_file(pico_manifest());
    const std::string b = manifest_file(second);
    std::vector<std::string> common = {"-f",         a,
                                       "-f",         b,
                                       "--device",   "hsm-a=" + device(),
                                       "--device",   "hsm-b=sim:" + dir_.file("pico-b.json"),
                                       "--parallel", std::to_string(parallel)};
    std::vector<std::string> apply = {"apply", "--auto-approve"};
    apply.insert(apply.end(), common.begin(), common.end());
    auto applied = hsmctl(apply);
    EXPECT_EQ(applied.exit_code, 0) << applied.all();
    return common;
  }
  ProcessResult apply_with_signal(const std::string& m, const std::string& hook) {
    env_["HSMCTL_SIM_TEST_SIGNAL"] = hook;
    auto r = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
    env_.erase("HSMCTL_SIM_TEST_SIGNAL");
    return r;
  }
  /// The next plan has exactly the user PIN change left, and nothing interrupted to resolve.
  void expect_only_user_pin_left(const std::string& m) {
    auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
    EXPECT_EQ(plan.exit_code, 2) << plan.all();
    EXPECT_THAT(plan.out, HasSubstr("change user PIN")) << plan.all();
    EXPECT_THAT(plan.out, Not(HasSubstr("change SO PIN"))) << plan.all();
    EXPECT_THAT(plan.all(), Not(HasSubstr("interrupted"))) << plan.all();
    EXPECT_THAT(plan.all(), Not(HasSubstr("  ! "))) << plan.all();
  }
  void expect_converges(const std::string& m) {
    auto a = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
    EXPECT_EQ(a.exit_code, 0) << a.all();
    EXPECT_THAT(a.out, HasSubstr("Apply complete")) << a.all();
    auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
    EXPECT_EQ(plan.exit_code, 0) << plan.all();
    EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
  }
};

TEST_F(Interrupt, SigintFinishesTheStepStopsAndExits130) {
  const std::string m = synced_then_new_pins();
  // SIGINT while CHANGE REFERENCE DATA (INS 24) for the SO PIN, step 1 of 2, is on the wire.
  auto r = apply_with_signal(m, "INT 24");
  EXPECT_EQ(r.exit_code, 130) << r.all();
  EXPECT_EQ(r.term_signal, 0) << "died by the signal instead of stopping cleanly\n" << r.all();
  EXPECT_THAT(r.err, HasSubstr("SIGINT received: finishing the current step")) << r.all();
  EXPECT_THAT(r.out, HasSubstr("[hsm-a] change SO PIN ...\n[hsm-a]   done")) << r.all();
  EXPECT_THAT(r.out, HasSubstr("[hsm-a] interrupted by SIGINT after step 1 of 2; step 2 not "
                               "started: change user PIN"))
      << r.all();
  EXPECT_THAT(r.err, HasSubstr("hsmctl: apply interrupted by SIGINT after step 1 of 2; step 2 "
                               "not started; run 'hsmctl apply' again to continue"))
      << r.all();
  EXPECT_THAT(r.out, Not(HasSubstr("change user PIN ..."))) << r.all();
  EXPECT_THAT(r.all(), Not(HasSubstr("Apply complete"))) << r.all();
  expect_only_user_pin_left(m);
  expect_converges(m);
}

TEST_F(Interrupt, SigtermExits143) {
  const std::string m = synced_then_new_pins();
  // After the card executed the command: only the commit is left, and it still happens.
  auto r = apply_with_signal(m, "TERM 24 after");
  EXPECT_EQ(r.exit_code, 143) << r.all();
  EXPECT_EQ(r.term_signal, 0) << r.all();
  EXPECT_THAT(r.out, HasSubstr("interrupted by SIGTERM after step 1 of 2")) << r.all();
  EXPECT_THAT(r.all(), Not(HasSubstr("Apply complete"))) << r.all();
  expect_only_user_pin_left(m);
  expect_converges(m);
}

TEST_F(Interrupt, DevicesAfterTheInterruptedOneAreNotStarted) {
  std::string second = pico_manifest("", "hsm-b");
  second.replace(second.find(kSerial), 16, "1112131415161718");
  const std::string a = manifest_file(pico_manifest());
  const std::string b = manifest_file(second);
  const std::vector<std::string> devices = {"--device", "hsm-a=" + device(), "--device",
                                            "hsm-b=sim:" + dir_.file("pico-b.json")};
  auto args = [&](const char* cmd) {
    std::vector<std::string> v = {cmd, "-f", a, "-f", b};
    v.insert(v.end(), devices.begin(), devices.end());
    return v;
  };
  // INITIALIZE (INS 50) of the first device: it completes, the second device is not touched.
  // One device at a time (with --parallel both would be in progress when the signal comes; see
  // ParallelApplyStopsEveryDeviceBetweenSteps).
  env_["HSMCTL_SIM_TEST_SIGNAL"] = "INT 50";
  auto apply = args("apply");
  apply.push_back("--auto-approve");
  apply.push_back("--parallel=1");
  auto r = hsmctl(apply);
  env_.erase("HSMCTL_SIM_TEST_SIGNAL");
  EXPECT_EQ(r.exit_code, 130) << r.all();
  EXPECT_THAT(r.err, HasSubstr("interrupted by SIGINT after step 1 of 2; step 2 not started "
                               "(devices not started: hsm-b)"))
      << r.all();
  EXPECT_THAT(r.out, Not(HasSubstr("[hsm-b]"))) << r.all();
  auto plan_args = args("plan");
  plan_args.push_back("--detailed-exitcode");
  auto plan = hsmctl(plan_args);
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("matches the manifest")) << plan.all();  // hsm-a
  auto again = hsmctl(apply);
  EXPECT_EQ(again.exit_code, 0) << again.all();
  plan = hsmctl(plan_args);
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
}

TEST_F(Interrupt, ParallelApplyStopsEveryDeviceBetweenSteps) {
  // Both devices are applied at once (every device named, --parallel default 4). SIGINT at
  // hsm-a's INITIALIZE: every device finishes the step it is in and starts no other; the output
  // says which steps of which device did not run, in manifest order, and the next apply
  // converges.
  std::string second = pico_manifest("", "hsm-b");
  second.replace(second.find(kSerial), 16, "1112131415161718");
  const std::string a = manifest_file(pico_manifest(kTwoStepExtra));
  const std::string b = manifest_file(second + kTwoStepExtra);
  const std::vector<std::string> common = {"-f",       a,
                                           "-f",       b,
                                           "--device", "hsm-a=" + device(),
                                           "--device", "hsm-b=sim:" + dir_.file("pico-b.json")};
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), common.begin(), common.end());
    return head;
  };
  // Only hsm-a's simulator raises it (each simulator would: a second SIGINT aborts at once).
  env_["HSMCTL_SIM_TEST_SIGNAL"] = "INT 50 in:pico.json";
  auto r = hsmctl(with({"apply", "--auto-approve"}));
  env_.erase("HSMCTL_SIM_TEST_SIGNAL");
  EXPECT_EQ(r.exit_code, 130) << r.all();
  EXPECT_EQ(r.term_signal, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("hsmctl: apply interrupted by SIGINT")) << r.all();
  EXPECT_THAT(r.all(), Not(HasSubstr("Apply complete"))) << r.all();
  // Manifest order: nothing of hsm-b's before the last line of hsm-a's.
  const auto last_a = r.out.rfind("[hsm-a]");
  const auto first_b = r.out.find("[hsm-b]");
  ASSERT_NE(last_a, std::string::npos) << r.all();
  if (first_b != std::string::npos) {
    EXPECT_LT(last_a, first_b) << r.all();
  }
  auto again = hsmctl(with({"apply", "--auto-approve"}));
  EXPECT_EQ(again.exit_code, 0) << again.all();
  auto plan = hsmctl(with({"plan", "--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
}

TEST_F(Interrupt, PlanStopsBetweenDevicesAndShowsNoPartialPlan) {
  // One device at a time (the default prepares named devices in parallel: then both are in
  // progress when the signal comes and both complete; see PlanInterruptedInParallel...).
  const std::vector<std::string> common = two_synced_devices(1);
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), common.begin(), common.end());
    return head;
  };
  for (const char* output : {"text", "json"}) {
    SCOPED_TRACE(output);
    // SIGINT at the first VERIFY of hsm-a's observation (which records it in the store first).
    env_["HSMCTL_SIM_TEST_SIGNAL"] = "INT 20";
    auto r = hsmctl(with({"plan", "-o", output, "--detailed-exitcode"}));
    env_.erase("HSMCTL_SIM_TEST_SIGNAL");
    EXPECT_EQ(r.exit_code, 130) << r.all();
    EXPECT_EQ(r.term_signal, 0) << r.all();
    EXPECT_THAT(r.err, HasSubstr("hsmctl: plan interrupted by SIGINT while observing the "
                                 "devices (not observed: hsm-b); the plan above is incomplete; "
                                 "nothing was changed on any device"))
        << r.all();
    // A partial plan never reads as the whole picture: the device not observed is in error.
    EXPECT_THAT(r.out, Not(HasSubstr("No changes"))) << r.all();
    if (std::string(output) == "json") {
      EXPECT_EQ(plan_schema_errors(r.out), "") << r.out;
      auto doc = nlohmann::json::parse(r.out);
      ASSERT_EQ(doc["devices"].size(), 2u) << r.out;
      EXPECT_EQ(doc["devices"][0]["status"], "ok") << r.out;
      EXPECT_EQ(doc["devices"][1]["status"], "error") << r.out;
      EXPECT_EQ(doc["devices"][1]["error"]["code"], "interrupted") << r.out;
      EXPECT_EQ(doc["devices"][1]["has_changes"], false) << r.out;
      EXPECT_EQ(doc["summary"]["error"], 1) << r.out;
    } else {
      EXPECT_THAT(r.out, HasSubstr("\"hsm-a\" (serial 0102030405060708) via " + device() +
                                   " matches the manifest"))
          << r.out;
      EXPECT_THAT(r.out, HasSubstr("✗ device \"hsm-b\" via sim:" + dir_.file("pico-b.json") +
                                   ": error: not observed: interrupted by SIGINT"))
          << r.out;
    }
    // hsm-a's observation completed with its records: nothing is withheld or left "sending".
    auto plan = hsmctl(with({"plan", "--detailed-exitcode"}));
    EXPECT_EQ(plan.exit_code, 0) << plan.all();
    EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
  }
}

// With devices prepared in parallel (the default for named devices), every device in progress
// when the signal comes completes its observation; the run still stops there, and says so
// without calling the plan incomplete.
TEST_F(Interrupt, PlanInterruptedInParallelFinishesTheObservationsInProgress) {
  const std::vector<std::string> common = two_synced_devices(2);
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), common.begin(), common.end());
    return head;
  };
  // One Ctrl-C, at hsm-a's first VERIFY (hsm-b's simulator has its own file: no hook there).
  env_["HSMCTL_SIM_TEST_SIGNAL"] = "INT 20 in:" + device().substr(4);
  auto r = hsmctl(with({"plan", "-o", "json", "--detailed-exitcode"}));
  env_.erase("HSMCTL_SIM_TEST_SIGNAL");
  EXPECT_EQ(r.exit_code, 130) << r.all();
  EXPECT_EQ(r.term_signal, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("hsmctl: plan interrupted by SIGINT while observing the devices"))
      << r.all();
  EXPECT_THAT(r.err, HasSubstr("nothing was changed on any device")) << r.all();
  EXPECT_EQ(plan_schema_errors(r.out), "") << r.out;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["devices"].size(), 2u) << r.out;
  EXPECT_EQ(doc["devices"][0]["name"], "hsm-a") << "manifest order, whatever finished first";
  EXPECT_EQ(doc["devices"][0]["status"], "ok") << r.out;
  // hsm-b was either in progress (observed, ok) or not started (error "interrupted"): never
  // cut in half.
  const auto& b_plan = doc["devices"][1];
  EXPECT_EQ(b_plan["name"], "hsm-b");
  if (b_plan["status"] == "ok") {
    EXPECT_THAT(r.err, HasSubstr("every device was observed")) << r.all();
  } else {
    EXPECT_EQ(b_plan["error"]["code"], "interrupted") << r.out;
  }
  auto plan = hsmctl(with({"plan", "--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
}

TEST_F(Interrupt, SecondSignalAbortsAtOnceAndTheNextApplyConverges) {
  for (const char* hook : {"INT 24 x2", "INT 24 after x2"}) {
    SCOPED_TRACE(hook);
    const std::string m = synced_then_new_pins();
    auto r = apply_with_signal(m, hook);
    EXPECT_EQ(r.term_signal, SIGINT) << "expected death by SIGINT\n" << r.all();
    EXPECT_THAT(r.all(), Not(HasSubstr("Apply complete"))) << r.all();
    // The journal resolves the half-done step; the store ends up with what the device holds.
    expect_converges(m);
    // Back to the first PINs for the next round.
    env_["USER_PIN"] = "64821907";
    env_["SO_PIN"] = "3537363231383830";
    expect_converges(m);
  }
}

TEST_F(Interrupt, WithoutASignalTheSameApplyCompletes) {
  // Guards the tests above: the hook is what stops them, not the plan.
  const std::string m = synced_then_new_pins();
  auto r = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.out, HasSubstr("Apply complete: 2 step(s) done")) << r.all();
}

TEST_F(Interrupt, MalformedHookIsAUsageError) {
  const std::string m = manifest_file(pico_manifest());
  env_["HSMCTL_SIM_TEST_SIGNAL"] = "HUP 24";
  auto r = hsmctl({"plan", "-f", m, "--device", device()});
  EXPECT_EQ(r.exit_code, 64) << r.all();
  EXPECT_THAT(r.err, HasSubstr("HSMCTL_SIM_TEST_SIGNAL")) << r.all();
}

}  // namespace
}  // namespace hsmctl::testing
