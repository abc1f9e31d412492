// SPDX-License-Identifier: Apache-2.0
// The other direction of dkek_e2e_test.cpp (issue 11): a share file sc-hsm-tool made
// (tests/fixtures/dkek/sc-hsm-tool.pbe, README there) named in a manifest is imported by
// `hsmctl apply` through pcscd in the same apply that initializes the card; hsmctl checks the
// card's KCV against the file's and the ceremony's (expectedKcv), sc-hsm-tool then reports
// nothing pending, and a second plan is "No changes." without decrypting the file again (the
// real 10,000,000-round derivation runs once here).

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::e2e {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kFixturePassword = "hsmctl-test-dkek-share";  // tests/fixtures/dkek/README
constexpr const char* kFixtureKcv = "1FE64F3B227636A1";

class DkekApplyE2e : public PcscE2eTest {
 protected:
  void SetUp() override {
    PcscE2eTest::SetUp();
    auto restarted = sandbox().restart();  // a fresh card
    ASSERT_TRUE(restarted) << restarted.error().message;
  }
};

TEST_F(DkekApplyE2e, HsmctlImportsAShareScHsmToolCreated) {
  testing::TempDir dir("dkek-apply-e2e");
  const std::string manifest = dir.file("ca.yaml");
  testing::write_text(
      manifest,
      pico_manifest("  dkekShares: 1\n"
                    "  dkek:\n"
                    "    shares:\n"
                    "      - file: " HSMCTL_SOURCE_DIR "/tests/fixtures/dkek/sc-hsm-tool.pbe\n"
                    "        password: {secret: env:SHARE_PW}\n"
                    "    expectedKcv: \"" +
                    std::string(kFixtureKcv) + "\"\n"),
      0600);
  auto env = pin_store_env(dir.path(), "64821907", "3537363231383830");
  env["SHARE_PW"] = kFixturePassword;

  const auto apply =
      run_hsmctl({"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve"}, env);
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  EXPECT_THAT(apply.out,
              HasSubstr("import 1 DKEK share(s) into the DKEK (KCV " + std::string(kFixtureKcv)));
  EXPECT_THAT(apply.all(), Not(HasSubstr(kFixturePassword)));

  // sc-hsm-tool: the share is in, nothing pending.
  const auto status = run_process({"sc-hsm-tool", "--reader", "0"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("DKEK shares +: 1")) << status.diagnostics();
  EXPECT_THAT(status.out, Not(HasSubstr("still missing"))) << status.diagnostics();

  // The share's password no longer decrypts anything: a plan that still says "No changes." did
  // not decrypt the file again (the device's KCV is compared with expectedKcv).
  auto later = env;
  later["SHARE_PW"] = "not-the-password";
  const auto plan =
      run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:", "--detailed-exitcode"}, later);
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.diagnostics();
  EXPECT_THAT(plan.out, Not(HasSubstr("pending"))) << plan.diagnostics();
}

}  // namespace
}  // namespace hsmctl::e2e
