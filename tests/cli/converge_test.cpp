// SPDX-License-Identifier: Apache-2.0
// Every PicoHSM manifest the project ships (tests/fixtures/manifests/valid, examples/) converges
// in one apply on the simulator: apply, then plan = no changes (issue 8 item 3). The device
// selector and secret references are pointed at the test's simulator and environment; every
// other field is the shipped manifest's.

#include "cli/cli_fixture.hpp"
#include "support/shipped_manifests.hpp"

#include <gmock/gmock.h>

#include <filesystem>
#include <regex>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Converge : public CliTest, public ::testing::WithParamInterface<ShippedDoc> {};

TEST_P(Converge, ApplyThenPlanHasNoChanges) {
  const ShippedDoc& doc = GetParam();
  const std::string m = manifest_file(retarget(doc.text, kSerial));
  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << doc.name << "\n" << apply.all();
  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << doc.name << "\n" << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << doc.name << "\n" << plan.all();
  EXPECT_THAT(plan.out, Not(HasSubstr("  ! "))) << doc.name << "\n" << plan.all();

  // A second apply sends nothing that changes the device.
  const std::string settled = read_text(dir_.file("pico.json"));
  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 0) << doc.name << "\n" << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("No changes.")) << doc.name << "\n" << apply.all();
}

// Issue 8 item 5: apply -> get -> plan of get's output = no changes (never a wipe).
TEST_P(Converge, GetOutputPlansNoChanges) {
  const ShippedDoc& doc = GetParam();
  const std::string m = manifest_file(retarget(doc.text, kSerial));
  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << doc.name << "\n" << apply.all();
  auto get = hsmctl({"get", "--device", device(), "--name", "from-get"});
  ASSERT_EQ(get.exit_code, 0) << doc.name << "\n" << get.all();
  EXPECT_THAT(get.out, HasSubstr("store:pico:" + std::string(kSerial) + "/user-pin"));
  EXPECT_THAT(get.out, HasSubstr("# yaml-language-server: $schema="));
  const std::string got = manifest_file(get.out);
  auto plan = hsmctl({"plan", "-f", got, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << doc.name << "\n" << get.out << "\n" << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << doc.name << "\n" << get.out << plan.all();
  EXPECT_THAT(plan.out, Not(HasSubstr("re-initialize"))) << doc.name << "\n" << plan.all();
}

INSTANTIATE_TEST_SUITE_P(Shipped, Converge, ::testing::ValuesIn(shipped_pico_docs()),
                         [](const auto& p) { return p.param.test_name; });

}  // namespace
}  // namespace hsmctl::testing
