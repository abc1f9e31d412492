// SPDX-License-Identifier: Apache-2.0
// DKEK share files between hsmctl and OpenSC 0.23's sc-hsm-tool through pcscd (issue 11): a
// share made by `hsmctl dkek create` is imported by `sc-hsm-tool --import-dkek-share`, and the
// card's DKEK then has the KCV hsmctl printed. The real key derivation (10,000,000 MD5
// iterations) runs twice here: about 20 s.

#include "pcsc_fixture.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

namespace hsmctl::e2e {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

// Test values, not secrets (sc-hsm-tool takes the share password only on its command line).
constexpr const char* kSharePassword = "dkek-e2e-share-password";
constexpr const char* kUserPin = "648219";

class DkekE2e : public PcscE2eTest {};

TEST_F(DkekE2e, ScHsmToolImportsAShareHsmctlCreated) {
  const auto init = run_process({"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin",
                                 "3537363231383830", "--pin", kUserPin, "--dkek-shares", "1"});
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();

  testing::TempDir dir("dkek-e2e");
  const std::string file = dir.file("custodian-1.pbe");
  const auto created = run_hsmctl({"dkek", "create", file, "--password", "env:DKEK_SHARE_PW"},
                                  {{"DKEK_SHARE_PW", kSharePassword}});
  ASSERT_EQ(created.exit_code, 0) << created.diagnostics();
  EXPECT_THAT(created.out, HasSubstr("DKEK share written to " + file + " (mode 0600)"));
  EXPECT_THAT(created.all(), Not(HasSubstr(kSharePassword)));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(created.out, m, std::regex("KCV of this share: ([0-9A-F]{16})\n")))
      << created.diagnostics();
  const std::string kcv = m[1];

  const auto imported = run_process(
      {"sc-hsm-tool", "--reader", "0", "--import-dkek-share", file, "--password", kSharePassword},
      {}, {}, 200);
  ASSERT_EQ(imported.exit_code, 0) << imported.diagnostics();
  EXPECT_THAT(imported.out, HasSubstr("DKEK share imported")) << imported.diagnostics();

  // sc-hsm-tool's status: the one share is in, nothing pending. On a Pico HSM (and this virtual
  // card) the KCV it prints is all zeros: the firmware reveals it only in a user-PIN session,
  // and sc-hsm-tool's status never logs in.
  const auto status = run_process({"sc-hsm-tool", "--reader", "0"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("DKEK shares +: 1")) << status.diagnostics();
  EXPECT_THAT(status.out, Not(HasSubstr("still missing"))) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("DKEK key check value +: [0-9A-F]{16}"))
      << status.diagnostics();

  // The card's KCV in a PIN session, read by OpenSC's opensc-tool (one connection: SELECT,
  // VERIFY the user PIN, key-domain status 80 52 00 00): total, outstanding, KCV.
  std::string pin_hex;
  for (const char c : std::string(kUserPin)) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    pin_hex += std::string(" ") + kHex[(c >> 4) & 0xF] + kHex[c & 0xF];
  }
  const auto apdus = run_process({"opensc-tool", "--reader", "0", "-s",
                                  "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00", "-s",
                                  "00 20 00 81 06" + pin_hex, "-s", "80 52 00 00 00"});
  ASSERT_EQ(apdus.exit_code, 0) << apdus.diagnostics();
  ASSERT_TRUE(std::regex_search(
      apdus.out, m,
      std::regex("Sending: 80 52 00 00 00 *\nReceived \\(SW1=0x90, SW2=0x00\\):\n01 00 "
                 "((?:[0-9A-F]{2} ){8})")))
      << apdus.diagnostics();
  std::string card_kcv = m[1];
  card_kcv.erase(std::remove(card_kcv.begin(), card_kcv.end(), ' '), card_kcv.end());
  EXPECT_EQ(card_kcv, kcv) << apdus.diagnostics();
  EXPECT_NE(card_kcv, "0000000000000000");

  EXPECT_THAT(imported.all() + status.all(), Not(HasSubstr(kSharePassword)));
}

}  // namespace
}  // namespace hsmctl::e2e
