// SPDX-License-Identifier: Apache-2.0
// Issue 12 "Saved plans" through the real binary (docs/review.md "Saved plans"): `plan -out`,
// `show FILE -o markdown`, a change behind hsmctl's back makes `apply FILE` refuse and name it,
// a new plan applies exactly, and then nothing is left to do. Also: an edited plan file, an
// edited manifest, `--store none`, `--apply-valid-devices`, and never a secret in any output or
// in the plan file.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SavedPlans : public CliTest {
 protected:
  void SetUp() override {
    manifest_ = manifest_file(pico_manifest());
    // Initialized with USER_PIN 64821907; the manifest then asks for another user PIN.
    ASSERT_EQ(hsmctl({"apply", "-f", manifest_, "-d", device(), "--auto-approve"}).exit_code, 0)
        << transcript_;
    env_["USER_PIN"] = "11223344";
  }
  ProcessResult plan_out(const std::string& file, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"plan", "-f", manifest_, "-d", device(), "-out", file};
    args.insert(args.end(), extra.begin(), extra.end());
    return hsmctl(args);
  }
  /// Behind hsmctl's back: the simulator's user PIN counter shows one failed attempt (as after
  /// a VERIFY with a wrong PIN by another program).
  static void fail_one_user_pin_try(const std::string& sim_file) {
    nlohmann::json sim = nlohmann::json::parse(read_text(sim_file));
    sim["user_pin"]["retries"] = sim["user_pin"]["retries"].get<int>() - 1;
    ASSERT_TRUE(write_text(sim_file, sim.dump()));
  }
  void expect_no_secret(const std::string& text) {
    for (const char* secret : {"64821907", "11223344", "3537363231383830"})
      EXPECT_THAT(text, Not(HasSubstr(secret))) << secret;
  }
  std::string manifest_;
};

TEST_F(SavedPlans, ReviewFlowRefusesAStalePlanAndAppliesAFreshOne) {
  const std::string plan_file = dir_.file("review.plan");
  auto plan = plan_out(plan_file);
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.err, HasSubstr("saved the plan to " + plan_file));
  const std::string saved_text = read_text(plan_file);
  expect_no_secret(saved_text);

  auto show = hsmctl({"show", plan_file, "-o", "markdown"});
  ASSERT_EQ(show.exit_code, 0) << show.all();
  EXPECT_THAT(show.out, HasSubstr("| `~` | change user PIN |"));
  EXPECT_EQ(hsmctl({"show", plan_file}).out.find("  ~ change user PIN"), plan.out.find("  ~ "))
      << "show renders the text plan as plan printed it";

  fail_one_user_pin_try(dir_.file("pico.json"));
  auto refused = hsmctl({"apply", plan_file});
  EXPECT_EQ(refused.exit_code, 1) << refused.all();
  EXPECT_THAT(refused.err, HasSubstr("stale plan: device \"hsm-a\": user PIN retry counter 3 → 2 "
                                     "since the plan"));
  EXPECT_THAT(refused.err, HasSubstr("the plan now differs: actions: change user PIN → reset the "
                                     "user PIN retry counter with the SO PIN"));
  EXPECT_THAT(refused.err, HasSubstr("apply refused: " + plan_file + " is stale"));
  EXPECT_THAT(refused.out, Not(HasSubstr("Apply complete")));

  const std::string fresh_file = dir_.file("fresh.plan");
  plan = plan_out(fresh_file);
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("reset the user PIN retry counter with the SO PIN"));
  auto applied = hsmctl({"apply", fresh_file});  // no --auto-approve: a saved plan asks nothing
  ASSERT_EQ(applied.exit_code, 0) << applied.all();
  EXPECT_THAT(applied.out, HasSubstr("Apply complete: 1 step(s) done."));

  auto after = hsmctl({"plan", "-f", manifest_, "-d", device(), "--detailed-exitcode"});
  EXPECT_EQ(after.exit_code, 0) << after.all();
  EXPECT_THAT(after.out, HasSubstr("No changes."));
  // Applied once, the plan is history: its actions are no longer what a plan shows.
  auto twice = hsmctl({"apply", fresh_file});
  EXPECT_EQ(twice.exit_code, 1) << twice.all();
  EXPECT_THAT(twice.err, HasSubstr("the plan now differs"));

  expect_no_secret(transcript_);
  expect_no_secret(read_text(fresh_file));
}

TEST_F(SavedPlans, AChangedManifestIsNamed) {
  const std::string plan_file = dir_.file("p.plan");
  ASSERT_EQ(plan_out(plan_file).exit_code, 0) << transcript_;
  ASSERT_TRUE(write_text(manifest_, pico_manifest("  pinRetries: 5\n")));
  auto refused = hsmctl({"apply", plan_file});
  EXPECT_EQ(refused.exit_code, 1) << refused.all();
  EXPECT_THAT(refused.err,
              HasSubstr("stale plan: manifest " + manifest_ + " changed since the plan"));
  EXPECT_THAT(refused.err, HasSubstr("nothing was sent to any device"));
}

TEST_F(SavedPlans, AStoreEntryChangedSinceThePlanIsNamed) {
  const std::string plan_file = dir_.file("p.plan");
  ASSERT_EQ(plan_out(plan_file).exit_code, 0) << transcript_;
  EXPECT_THAT(read_text(plan_file), HasSubstr("store entry pico:0102030405060708/user-pin"));
  auto set = hsmctl({"store", "set", "pico:0102030405060708/user-pin"}, "99887766\n");
  ASSERT_EQ(set.exit_code, 0) << set.all();
  auto refused = hsmctl({"apply", plan_file});
  EXPECT_EQ(refused.exit_code, 1) << refused.all();
  EXPECT_THAT(refused.err, HasSubstr("stale plan: device \"hsm-a\": store entry "
                                     "pico:0102030405060708/user-pin keyed fingerprint "));
  EXPECT_THAT(transcript_ + read_text(plan_file), Not(HasSubstr("99887766")));
}

TEST_F(SavedPlans, AnEditedPlanFileIsRefused) {
  const std::string plan_file = dir_.file("p.plan");
  ASSERT_EQ(plan_out(plan_file).exit_code, 0) << transcript_;
  std::string text = read_text(plan_file);
  const auto at = text.find("\"change-user-pin\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 17, "\"change-so-pin\"");
  ASSERT_TRUE(write_text(plan_file, text));
  for (const std::vector<std::string>& args : {std::vector<std::string>{"show", plan_file},
                                               std::vector<std::string>{"apply", plan_file}}) {
    auto r = hsmctl(args);
    EXPECT_EQ(r.exit_code, 1) << r.all();
    EXPECT_THAT(r.err, HasSubstr(plan_file + ": the saved plan failed its integrity check"));
    EXPECT_THAT(r.out, Not(HasSubstr("change")));
  }
}

TEST_F(SavedPlans, AnotherStoreCannotVouchForThePlan) {
  const std::string plan_file = dir_.file("p.plan");
  ASSERT_EQ(plan_out(plan_file).exit_code, 0) << transcript_;
  // The same file under another store: no plan key there.
  auto r = hsmctl({"--store", dir_.file("other.hsmctl"), "show", plan_file});
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_THAT(r.err, HasSubstr("holds no plan key"));
}

TEST_F(SavedPlans, UsageErrors) {
  auto none = hsmctl(
      {"--store", "none", "plan", "-f", manifest_, "-d", device(), "-out", dir_.file("x.plan")});
  EXPECT_EQ(none.exit_code, 64) << none.all();
  EXPECT_THAT(none.err, HasSubstr("-out needs the credential store"));
  EXPECT_FALSE(std::ifstream(dir_.file("x.plan")).good());

  const std::string plan_file = dir_.file("p.plan");
  ASSERT_EQ(plan_out(plan_file).exit_code, 0) << transcript_;
  auto with_file = hsmctl({"apply", plan_file, "-f", manifest_});
  EXPECT_EQ(with_file.exit_code, 64) << with_file.all();
  EXPECT_THAT(with_file.err, HasSubstr("--file cannot be given with a saved plan"));
  auto nothing = hsmctl({"apply"});
  EXPECT_EQ(nothing.exit_code, 64) << nothing.all();
  EXPECT_THAT(nothing.err, HasSubstr("the option '--file' is required but missing"));
  auto valid_only = hsmctl({"apply", "-f", manifest_, "--apply-valid-devices"});
  EXPECT_EQ(valid_only.exit_code, 64) << valid_only.all();
  auto stdin_manifest =
      hsmctl({"plan", "-f", "-", "-d", device(), "-out", dir_.file("y.plan")}, pico_manifest());
  EXPECT_EQ(stdin_manifest.exit_code, 64) << stdin_manifest.all();
}

TEST_F(SavedPlans, ApplyValidDevicesAppliesOnlyWhatIsStillValid) {
  std::string b = pico_manifest("", "hsm-b");
  b.replace(b.find(kSerial), 16, "1112131415161718");
  const std::string b_file = manifest_file(b);
  const std::string b_device = "sim:" + dir_.file("pico-b.json");
  env_["USER_PIN"] = "64821907";
  ASSERT_EQ(hsmctl({"apply", "-f", b_file, "-d", b_device, "--auto-approve"}).exit_code, 0);
  env_["USER_PIN"] = "11223344";
  const std::vector<std::string> both = {"-f", manifest_,           "-f", b_file,
                                         "-d", "hsm-a=" + device(), "-d", "hsm-b=" + b_device};
  std::vector<std::string> plan_args = {"plan", "-out", dir_.file("p.plan")};
  plan_args.insert(plan_args.end(), both.begin(), both.end());
  ASSERT_EQ(hsmctl(plan_args).exit_code, 0) << transcript_;

  fail_one_user_pin_try(dir_.file("pico-b.json"));
  auto refused = hsmctl({"apply", dir_.file("p.plan")});
  EXPECT_EQ(refused.exit_code, 1) << refused.all();
  EXPECT_THAT(refused.err, HasSubstr("device \"hsm-b\": user PIN retry counter 3 → 2"));
  EXPECT_THAT(refused.out, Not(HasSubstr("[hsm-a]")));  // all-or-nothing: a was not touched

  auto partial = hsmctl({"apply", dir_.file("p.plan"), "--apply-valid-devices"});
  EXPECT_EQ(partial.exit_code, 0) << partial.all();
  EXPECT_THAT(partial.err, HasSubstr("applying the still valid part of " + dir_.file("p.plan") +
                                     " (hsm-a); not applied: hsm-b"));
  EXPECT_THAT(partial.out, HasSubstr("[hsm-a] change user PIN"));
  EXPECT_THAT(partial.out, Not(HasSubstr("[hsm-b]")));
  std::vector<std::string> check = {"plan"};
  check.insert(check.end(), both.begin(), both.end());
  auto after = hsmctl(check);
  EXPECT_THAT(after.out, HasSubstr("✓ device \"hsm-a\""));
  EXPECT_THAT(after.out, HasSubstr("reset the user PIN retry counter"));  // b: still to do
  expect_no_secret(transcript_);
}

}  // namespace
}  // namespace hsmctl::testing
