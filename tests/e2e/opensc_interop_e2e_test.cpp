// SPDX-License-Identifier: Apache-2.0
// OpenSC 0.23 tools against hsmctl-vcard through pcscd: the virtual card must look like a real
// Pico HSM to third-party middleware, not only to hsmctl.

#include "pcsc_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class OpenscInteropE2e : public PcscE2eTest {};

TEST_F(OpenscInteropE2e, OpenscToolListsBothReadersWithCards) {
  const auto r = run_process({"opensc-tool", "-l"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, ::testing::ContainsRegex("0 +Yes +hsmctl vcard 00 00")) << r.diagnostics();
  EXPECT_THAT(r.out, ::testing::ContainsRegex("1 +Yes +hsmctl vcard 00 01")) << r.diagnostics();
}

TEST_F(OpenscInteropE2e, OpenscToolSelectsTheHsmApplet) {
  const auto r = run_process(
      {"opensc-tool", "--reader", "0", "-s", "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("SW1=0x90, SW2=0x00")) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("85 05")) << r.diagnostics();
}

TEST_F(OpenscInteropE2e, OpenscToolReadsThePicoAtr) {
  const auto r = run_process({"opensc-tool", "--reader", "0", "--atr"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out,
              HasSubstr("3b:fe:18:00:00:81:31:fe:45:80:31:81:54:48:53:4d:31:73:80:21:40:81:07:fa"))
      << r.diagnostics();
}

// One test, because the steps depend on each other: fresh -> initialize -> initialized.
TEST_F(OpenscInteropE2e, ScHsmToolSeesAFreshCardThenInitializesIt) {
  const auto fresh = run_process({"sc-hsm-tool", "--reader", "0"});
  EXPECT_THAT(fresh.out + fresh.err, HasSubstr("has never been initialized"))
      << fresh.diagnostics();

  const auto init = run_process({"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin",
                                 "3537363231383830", "--pin", "648219", "--dkek-shares", "1"});
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();

  const auto status = run_process({"sc-hsm-tool", "--reader", "0"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, Not(HasSubstr("never been initialized"))) << status.diagnostics();
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Version +: 6\\.6")) << status.diagnostics();
  EXPECT_THAT(status.out, HasSubstr("User PIN reset with SO-PIN enabled")) << status.diagnostics();
  EXPECT_THAT(status.out, ::testing::ContainsRegex("SO-PIN tries left +: 15"))
      << status.diagnostics();
  EXPECT_THAT(status.out, ::testing::ContainsRegex("User PIN tries left +: 3"))
      << status.diagnostics();
  EXPECT_THAT(status.out, ::testing::ContainsRegex("DKEK shares +: 1")) << status.diagnostics();
  // The PINs never show up in the tool's output.
  EXPECT_THAT(status.out + init.out + init.err, Not(HasSubstr("648219")));
}

}  // namespace
}  // namespace hsmctl::e2e
