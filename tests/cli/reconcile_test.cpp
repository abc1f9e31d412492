// SPDX-License-Identifier: Apache-2.0
// The reconcile loop through the real binary: fresh device -> initialize -> change PIN ->
// change SO PIN -> key domains -> re-initialization refused, then allowed -> no changes.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <fstream>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Reconcile : public CliTest {};

TEST_F(Reconcile, ScenarioFromFreshDeviceToNoChanges) {
  std::string m = manifest_file(pico_manifest());

  // A fresh device: the plan initializes it.
  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("+ initialize the device"));

  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes."));

  // New user PIN: changed in place with the old value hsmctl kept in its store.
  env_["USER_PIN"] = "11223344";
  plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("~ change user PIN"));
  EXPECT_THAT(plan.out, Not(HasSubstr("-/+")));
  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();

  // New SO PIN (8 characters this time, normalised to the same 8-byte form).
  env_["SO_PIN"] = "87654321";
  plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("~ change SO PIN"));
  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();

  // Key domains need a re-initialization (their count is set by INITIALIZE).
  std::string with_domains = manifest_file(pico_manifest("  keyDomains: [{dkekShares: 2}, {}]\n"));
  plan = hsmctl({"plan", "-f", with_domains, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("-/+ re-initialize the device"));
  EXPECT_THAT(plan.out, HasSubstr("spec.keyDomains"));

  const std::string before = read_text(dir_.file("pico.json"));
  apply = hsmctl({"apply", "-f", with_domains, "--device", device(), "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 1) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("--allow-reinit"));
  EXPECT_EQ(read_text(dir_.file("pico.json")), before) << "a refused apply changed the device";

  apply = hsmctl(
      {"apply", "-f", with_domains, "--device", device(), "--auto-approve", "--allow-reinit"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("set up key domain 0 with 2 DKEK share(s)"));
  plan = hsmctl({"plan", "-f", with_domains, "--device", device(), "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();

  // Applying again sends nothing that changes state: the device file is byte-identical.
  const std::string settled = read_text(dir_.file("pico.json"));
  apply = hsmctl({"apply", "-f", with_domains, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("No changes."));

  // No secret value used anywhere in this test was printed, nor stored in clear.
  for (const char* secret : {"64821907", "11223344", "3537363231383830", "87654321"}) {
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
    EXPECT_THAT(read_text(dir_.file("store.hsmctl")), Not(HasSubstr(secret))) << secret;
    EXPECT_THAT(settled, Not(HasSubstr(secret))) << secret;
  }
}

TEST_F(Reconcile, PinRetriesChangeNamesTheFieldAndIsRefusedWithoutFlag) {
  std::string m = manifest_file(pico_manifest());
  ASSERT_EQ(hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"}).exit_code, 0);
  std::string five = manifest_file(pico_manifest("  pinRetries: 5\n"));
  auto plan = hsmctl({"plan", "-f", five, "--device", device()});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("spec.pinRetries: 3 -> 5"));
  EXPECT_THAT(plan.out, HasSubstr("forces re-initialization"));
  auto json = hsmctl({"plan", "-f", five, "--device", device(), "-o", "json"});
  EXPECT_THAT(json.out, HasSubstr("\"class\": \"reinitialize\""));
  const std::string before = read_text(dir_.file("pico.json"));
  auto apply = hsmctl({"apply", "-f", five, "--device", device(), "--auto-approve"});
  EXPECT_NE(apply.exit_code, 0);
  EXPECT_EQ(read_text(dir_.file("pico.json")), before);
}

TEST_F(Reconcile, InvalidManifestIsReportedWithPositionAndTouchesNothing) {
  std::string m = manifest_file(pico_manifest("  pinRetries: 42\n  colour: blue\n"));
  auto r = hsmctl({"plan", "-f", m, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr(m + ":9:"));
  EXPECT_THAT(r.err, HasSubstr("spec.pinRetries"));
  EXPECT_THAT(r.err, HasSubstr("colour"));
  EXPECT_THAT(r.all(), Not(HasSubstr("terminate called")));
  EXPECT_FALSE(std::ifstream(dir_.file("pico.json")).good()) << "the device was opened";
}

TEST_F(Reconcile, MissingSecretIsAClearErrorBeforeAnyVerify) {
  std::string m = manifest_file(pico_manifest());
  env_["USER_PIN"] = "";
  auto r = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_THAT(r.err, HasSubstr("USER_PIN is not set"));
}

TEST_F(Reconcile, WrongSerialIsRefused) {
  std::string m = manifest_file(pico_manifest());
  ASSERT_EQ(hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"}).exit_code, 0);
  std::string other = pico_manifest();
  other.replace(other.find(kSerial), 16, "AAAAAAAAAAAAAAAA");
  auto r = hsmctl({"plan", "-f", manifest_file(other), "--device", device()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("AAAAAAAAAAAAAAAA"));
}

TEST_F(Reconcile, UsageErrorsExit64) {
  EXPECT_EQ(hsmctl({"frobnicate"}).exit_code, 64);
  EXPECT_EQ(hsmctl({"plan"}).exit_code, 64);
  EXPECT_EQ(hsmctl({"plan", "-f", "x.yaml", "stray"}).exit_code, 64);
  auto v = hsmctl({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("hsmctl "));
}

}  // namespace
}  // namespace hsmctl::testing
