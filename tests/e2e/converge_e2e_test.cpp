// SPDX-License-Identifier: Apache-2.0
// Issue 8 items 3 and 5 through the real PC/SC stack: every PicoHSM manifest the project ships
// (tests/fixtures/manifests/valid, examples/) converges in one apply on a fresh virtual card
// behind pcscd (apply, then plan = no changes), and `get` of the result plans no changes.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/shipped_manifests.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ShippedDoc;

class ConvergeE2e : public PcscE2eTest, public ::testing::WithParamInterface<ShippedDoc> {
 protected:
  void SetUp() override {
    PcscE2eTest::SetUp();
    // A fresh in-memory card for every manifest.
    auto restarted = sandbox().restart();
    ASSERT_TRUE(restarted) << restarted.error().message;
    env_ = {{"USER_PIN", "64821907"},
            {"SO_PIN", "3537363231383830"},
            {"HSMCTL_STORE", dir_.file("store.hsmctl")},
            {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")},
            {"NO_COLOR", "1"}};
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_.file(name);
    testing::write_text(path, text, 0600);
    return path;
  }
  ProcessResult hsmctl(std::vector<std::string> args) { return run_hsmctl(args, env_); }

  testing::TempDir dir_{"hsmctl-e2e-converge"};
  std::map<std::string, std::string> env_;
};

TEST_P(ConvergeE2e, ApplyThenPlanAndGetThenPlanHaveNoChanges) {
  const ShippedDoc& doc = GetParam();
  const std::string m = write("m.yaml", testing::retarget(doc.text, kVcardSerial));
  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << doc.name << "\n" << apply.diagnostics();
  auto plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << doc.name << "\n" << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << doc.name << "\n" << plan.diagnostics();

  auto get = hsmctl({"get", "--device", "pcsc:", "--name", "from-get"});
  ASSERT_EQ(get.exit_code, 0) << doc.name << "\n" << get.diagnostics();
  const std::string got = write("get.yaml", get.out);
  plan = hsmctl({"plan", "-f", got, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << doc.name << "\n" << get.out << "\n" << plan.diagnostics();
  EXPECT_THAT(plan.out, Not(HasSubstr("re-initialize"))) << doc.name << "\n" << plan.diagnostics();
}

INSTANTIATE_TEST_SUITE_P(Shipped, ConvergeE2e, ::testing::ValuesIn(testing::shipped_pico_docs()),
                         [](const auto& p) { return p.param.test_name; });

}  // namespace
}  // namespace hsmctl::e2e
