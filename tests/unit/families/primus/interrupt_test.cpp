// SPDX-License-Identifier: Apache-2.0
// SIGINT/SIGTERM during a Primus execute() (util/interrupt.hpp): the step in progress (its ppin
// run, verification, rename and store records) completes, no further step starts, and the next
// apply converges.
#include "hsmctl/util/interrupt.hpp"

#include "primus_fixture.hpp"

#include <signal.h>

#include <optional>

namespace hsmctl::families::primus::testing {
namespace {

class PrimusInterrupt : public PrimusFixture {};

TEST_F(PrimusInterrupt, StopsAfterTheStepInProgressAndTheNextApplyConverges) {
  auto c = cluster();
  auto p = partition(c.name);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  auto& pc = (*prepared)[0];
  ASSERT_EQ(pc.plan.plan.actions.size(), 2u);
  ASSERT_EQ(pc.plan.plan.actions[1].kind, kind::kFetchSecret);

  signal(SIGTERM, SIG_DFL);  // a test runner may start the binary with it ignored
  std::optional<StopOnSignal> guard(std::in_place);
  // The signal arrives while step 1 (writing primus.cfg) is being reported done.
  bool raised = false;
  auto r = execute(pc, ApplyOptions{}, keeper_, [&](const std::string& line) {
    output_ += line + "\n";
    if (!raised) {
      raised = true;
      raise(SIGTERM);
    }
  });
  ASSERT_TRUE(r) << r.error().to_string() << "\n" << output_;
  EXPECT_EQ(r->interrupted_by, SIGTERM);
  EXPECT_EQ(r->steps_total, 2);
  EXPECT_EQ(r->steps_done, 1);
  ASSERT_EQ(r->not_started.size(), 1u);
  EXPECT_EQ(r->not_started[0], pc.plan.plan.actions[1].summary);
  EXPECT_EQ(count_invocations_with("-a"), 0) << "the fetch started after the stop request";
  EXPECT_TRUE(keeper_.pending_.empty());
  EXPECT_NE(read_text(c.config_path).find("user_name = \"PAYMENTS01\""), std::string::npos);

  guard.reset();  // the next apply is a new process: no stop requested
  auto again = apply_once({c}, {p});
  ASSERT_TRUE(again) << again.error().to_string() << "\n" << output_;
  EXPECT_EQ(again->steps_done, 1);  // only the fetch is left
  EXPECT_EQ(count_invocations_with("-a"), 1);
  auto after = prepare_all({c}, {p});
  ASSERT_TRUE(after);
  EXPECT_FALSE((*after)[0].plan.plan.has_changes());
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
