// SPDX-License-Identifier: Apache-2.0
// Issue 12 "GitOps review" through the real binary: `plan -o markdown` (no secret ever),
// `-l/--selector` and `--target` (a unit not selected is never touched), and the per-device
// summary at the end of a multi-device plan (docs/review.md).

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Review : public CliTest {
 protected:
  /// hsm-a (labels env=prod, site=dc1) on pico.json and hsm-b (env=lab) on pico-b.json.
  void SetUp() override {
    std::string a = pico_manifest();
    a.insert(a.find("spec:"), "  labels: {env: prod, site: dc1}\n");
    std::string b = pico_manifest("", "hsm-b");
    b.replace(b.find(kSerial), 16, "1112131415161718");
    b.insert(b.find("spec:"), "  labels: {env: lab}\n");
    a_ = manifest_file(a);
    b_ = manifest_file(b);
  }
  std::vector<std::string> args(const char* cmd, std::vector<std::string> extra = {}) {
    std::vector<std::string> v = {cmd,
                                  "-f",
                                  a_,
                                  "-f",
                                  b_,
                                  "--device",
                                  "hsm-a=" + device(),
                                  "--device",
                                  "hsm-b=sim:" + dir_.file("pico-b.json")};
    if (std::string(cmd) == "apply")
      v.push_back("--auto-approve");
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  }
  std::string a_, b_;
};

TEST_F(Review, MarkdownPlanThroughTheLifecycleNeverShowsASecret) {
  auto plan = hsmctl(args("plan", {"-o", "markdown", "--detailed-exitcode"}));
  ASSERT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("### hsmctl plan\n\n**Plan:** 2 to create"));
  EXPECT_THAT(plan.out, HasSubstr("| `+` | initialize the device |"));
  EXPECT_THAT(plan.out, HasSubstr("| hsm-a | 1 to create |\n| hsm-b | 1 to create |"));

  ASSERT_EQ(hsmctl(args("apply")).exit_code, 0);
  env_["USER_PIN"] = "11223344";
  env_["SO_PIN"] = "87654321";
  plan = hsmctl(args("plan", {"-o", "markdown"}));
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("| `~` | change user PIN |"));
  EXPECT_THAT(plan.out, HasSubstr("| `~` | change SO PIN |"));
  ASSERT_EQ(hsmctl(args("apply")).exit_code, 0);

  std::string domains = pico_manifest("  keyDomains: [{dkekShares: 2}, {}]\n");
  plan = hsmctl({"plan", "-f", manifest_file(domains), "--device", device(), "-o", "markdown"});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("> **Warning**\n> **Re-initialization**: every key on this "
                                  "device is wiped."));
  EXPECT_THAT(plan.out, HasSubstr("| `-/+` | **re-initialize the device (wipes all keys)** |"));

  // No secret value used in this test was printed, in any format.
  for (const char* secret : {"64821907", "11223344", "3537363231383830", "87654321"}) {
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
  }
}

TEST_F(Review, BadOutputFormatIsAUsageError) {
  auto r = hsmctl(args("plan", {"-o", "html"}));
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("--output must be text, json or markdown"));
}

TEST_F(Review, ApplyWithASelectorOrTargetNeverTouchesAnotherDevice) {
  ASSERT_EQ(hsmctl(args("apply")).exit_code, 0);
  env_["USER_PIN"] = "11223344";
  const std::string b_before = read_text(dir_.file("pico-b.json"));

  auto apply = hsmctl(args("apply", {"-l", "env=prod"}));
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("[hsm-a] change user PIN"));
  EXPECT_THAT(apply.out, Not(HasSubstr("hsm-b")));
  EXPECT_THAT(apply.err, HasSubstr("hsmctl: not selected: hsm-b"));
  EXPECT_EQ(read_text(dir_.file("pico-b.json")), b_before) << "a device not selected changed";

  // hsm-b still differs, hsm-a matches; the per-device summary says so.
  auto plan = hsmctl(args("plan", {"--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("\nPer device:\n  hsm-a  no changes\n  hsm-b  1 to change\n"));

  // A target: only hsm-a is planned; a warning says targeting is exceptional.
  plan = hsmctl(args("plan", {"--target", "hsm-a", "--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, Not(HasSubstr("hsm-b")));
  EXPECT_THAT(plan.out, Not(HasSubstr("Per device")));  // single device: output as before
  EXPECT_THAT(plan.err, HasSubstr("--target in effect"));

  // key!=value, then the rest by target.
  plan = hsmctl(args("plan", {"-l", "env!=prod", "--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("hsm-b"));
  EXPECT_THAT(plan.out, Not(HasSubstr("hsm-a")));
  apply = hsmctl(args("apply", {"--target", "hsm-b"}));
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("[hsm-b] change user PIN"));
  EXPECT_EQ(hsmctl(args("plan", {"--detailed-exitcode"})).exit_code, 0);
}

TEST_F(Review, SelectionErrorsHaveTheDocumentedExitCodes) {
  for (const char* cmd : {"plan", "apply"}) {
    const std::string before = read_text(dir_.file("pico.json"));
    auto r = hsmctl(args(cmd, {"-l", "env"}));
    EXPECT_EQ(r.exit_code, 64) << r.all();
    EXPECT_THAT(r.err, HasSubstr("--selector \"env\""));

    r = hsmctl(args(cmd, {"--target", "hsm-x"}));
    EXPECT_EQ(r.exit_code, 64) << r.all();
    EXPECT_THAT(r.err, HasSubstr("--target hsm-x: no manifest is named \"hsm-x\""));

    r = hsmctl(args(cmd, {"-l", "env=staging"}));
    EXPECT_EQ(r.exit_code, 65) << r.all();
    EXPECT_THAT(r.err, HasSubstr("no manifests match selector env=staging"));
    EXPECT_THAT(r.out, Not(HasSubstr("No changes")));
    EXPECT_EQ(read_text(dir_.file("pico.json")), before);
  }
}

}  // namespace
}  // namespace hsmctl::testing
