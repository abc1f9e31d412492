// SPDX-License-Identifier: Apache-2.0
// The binary against a simulator whose next CHANGE REFERENCE DATA answers 9000 and is then lost
// with the power (Pico HSM writes flash after answering; docs/simulator.md "Faults"). The apply
// that saw the 9000 must not claim success; the next apply converges without a user-PIN try.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class LostWrite : public CliTest {};

TEST_F(LostWrite, ChangedUserPinLostWithThePowerConvergesWithoutATry) {
  const std::string m = manifest_file(pico_manifest());
  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();

  // Arm the fault in the state file (a new process is a new power-up).
  const std::string state_path = dir_.file("pico.json");
  std::string state = read_text(state_path);
  const std::string unarmed = "\"lose_write_after_answer\": []";
  const auto at = state.find(unarmed);
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, unarmed.size(), "\"lose_write_after_answer\": [\"24\"]");
  write_text(state_path, state);

  env_["USER_PIN"] = "99887766";
  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 69) << apply.all();
  EXPECT_THAT(apply.all(), HasSubstr("may not have reached its flash")) << apply.all();

  apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.all(), HasSubstr("sets the manifest's value with the SO PIN")) << apply.all();
  EXPECT_THAT(apply.all(), HasSubstr("set user PIN with the SO PIN")) << apply.all();
  // The counter is full (the reset would restore it anyway; crash_test.cpp measures that no try
  // was spent on the way).
  EXPECT_THAT(read_text(state_path), HasSubstr("\"retries\": 3")) << read_text(state_path);

  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
  EXPECT_THAT(transcript_, Not(HasSubstr("99887766")));
  EXPECT_THAT(transcript_, Not(HasSubstr("64821907")));
}

}  // namespace
}  // namespace hsmctl::testing
