// SPDX-License-Identifier: Apache-2.0
// Issue 15 item 3: the credential store is announced when an apply creates it (path, what
// unlocks it, how to back it up), and only then.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StoreAnnounce : public CliTest {};

TEST_F(StoreAnnounce, FirstApplyNamesTheNewStoreItsKeyAndTheBackupCommand) {
  std::string m = manifest_file(pico_manifest());
  auto plan = hsmctl({"plan", "-f", m, "--device", device()});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.err, Not(HasSubstr("created the credential store")));  // plan creates nothing

  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("created the credential store " + dir_.file("store.hsmctl")));
  EXPECT_THAT(apply.err, HasSubstr("key file " + dir_.file("store.key") + " (created now"));
  EXPECT_THAT(apply.err, HasSubstr("hsmctl store export FILE"));
  EXPECT_THAT(apply.out, Not(HasSubstr("credential store")));  // stdout stays the plan/result

  // The second run opens the existing store: no announcement.
  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.err, Not(HasSubstr("created the credential store")));
}

}  // namespace
}  // namespace hsmctl::testing

namespace hsmctl::testing {
namespace {

class DocsClaims : public CliTest {};

// Issue 15 item 4: with --allow-reinit given, the plan printed by apply must not claim that apply
// refuses the re-initialization.
TEST_F(DocsClaims, ApplyWithAllowReinitDoesNotSayItRefuses) {
  std::string m = manifest_file(pico_manifest());
  ASSERT_EQ(hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"}).exit_code, 0);
  std::string five = manifest_file(pico_manifest("  pinRetries: 5\n"));
  auto apply =
      hsmctl({"apply", "-f", five, "--device", device(), "--auto-approve", "--allow-reinit"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("re-initialize"));
  EXPECT_THAT(apply.all(), Not(HasSubstr("refuses")));
}

}  // namespace
}  // namespace hsmctl::testing
