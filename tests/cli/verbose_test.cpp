// SPDX-License-Identifier: Apache-2.0
// `-v`: each device's observation is named on stderr (PreparedUnit::observation_line through
// reconcile::Session), and never on stdout, where the plan goes.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class Verbose : public CliTest {};

TEST_F(Verbose, PlanNamesEachDevicesObservationOnStderr) {
  std::string m = manifest_file(pico_manifest());
  auto plan = hsmctl({"-v", "plan", "-f", m, "--device", device()});
  ASSERT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.err, MatchesRegex("hsmctl: device \"hsm-a\": observation sent [0-9]+ APDUs "
                                     "via sim:.*pico\\.json\n"));
  EXPECT_THAT(plan.out, Not(HasSubstr("observation sent")));

  auto quiet = hsmctl({"plan", "-f", m, "--device", device()});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.all();
  EXPECT_THAT(quiet.err, Not(HasSubstr("observation sent")));
}

}  // namespace
}  // namespace hsmctl::testing
