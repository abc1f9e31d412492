// SPDX-License-Identifier: Apache-2.0
// Issue 12 "Saved plans", the done criterion through the real PC/SC stack (hsmctl ->
// libpcsclite -> private pcscd -> vpcd -> hsmctl-vcard): plan -out, show -o markdown, a VERIFY
// with a wrong PIN by another program (OpenSC's opensc-tool) behind hsmctl's back, apply PLAN
// refuses and names the change, a new plan -out applies, and then plan shows no changes.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSelectHsm = "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00";

class SavedPlanE2e : public PcscE2eTest {
 protected:
  ProcessResult hsmctl(std::vector<std::string> args) {
    auto r = run_hsmctl(args, env_);
    transcript_ += r.out + r.err;
    return r;
  }
  testing::TempDir dir_{"hsmctl-e2e"};
  std::map<std::string, std::string> env_ = {
      {"E2E_USER_PIN", "31415926"},
      {"E2E_SO_PIN", "0011223344556677"},
      {"HSMCTL_STORE", dir_.file("store.hsmctl")},
      {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")},
      {"NO_COLOR", "1"},
  };
  std::string transcript_;
};

TEST_F(SavedPlanE2e, ReviewFlowOverPcsc) {
  const std::string m = dir_.file("m.yaml");
  testing::write_text(m, std::string("apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata:\n"
                                     "  name: root-ca\nspec:\n  device: {serial: \"") +
                             kVcardSerial +
                             "\"}\n  userPin: {secret: \"env:E2E_USER_PIN\"}\n"
                             "  soPin: {secret: \"env:E2E_SO_PIN\"}\n");
  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();

  env_["E2E_USER_PIN"] = "27182818";
  const std::string plan_file = dir_.file("review.plan");
  auto plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "-out", plan_file});
  ASSERT_EQ(plan.exit_code, 0) << plan.diagnostics();
  auto show = hsmctl({"show", plan_file, "-o", "markdown"});
  ASSERT_EQ(show.exit_code, 0) << show.diagnostics();
  EXPECT_THAT(show.out, HasSubstr("| `~` | change user PIN |"));

  // Another program spends a user-PIN try with a wrong PIN.
  const std::string wrong = "00000000";
  char len[4];
  std::snprintf(len, sizeof len, "%02X", static_cast<unsigned>(wrong.size()));
  auto verify =
      run_process({"opensc-tool", "--reader", "0", "-s", kSelectHsm, "-s",
                   std::string("00 20 00 81 ") + len + " " + to_hex_spaced(bytes_of(wrong))});
  ASSERT_THAT(verify.out, HasSubstr("SW1=0x63, SW2=0xC2")) << verify.diagnostics();

  auto refused = hsmctl({"apply", plan_file});
  EXPECT_EQ(refused.exit_code, 1) << refused.diagnostics();
  EXPECT_THAT(refused.err, HasSubstr("stale plan: device \"root-ca\": user PIN retry counter 3 → 2 "
                                     "since the plan"));
  EXPECT_THAT(refused.out, Not(HasSubstr("Apply complete")));

  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "-out", plan_file});
  ASSERT_EQ(plan.exit_code, 0) << plan.diagnostics();
  apply = hsmctl({"apply", plan_file});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  EXPECT_THAT(apply.out, HasSubstr("Apply complete"));
  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("No changes."));

  for (const char* secret : {"31415926", "27182818", "0011223344556677"}) {
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
    EXPECT_THAT(testing::read_text(plan_file), Not(HasSubstr(secret))) << secret;
  }
}

}  // namespace
}  // namespace hsmctl::e2e
