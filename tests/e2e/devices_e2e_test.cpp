// SPDX-License-Identifier: Apache-2.0
// `hsmctl devices` (devices_main, linked in) against the sandbox.

#include "cli/commands/devices.hpp"
#include "pcsc_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;

struct Captured {
  int exit_code = -1;
  std::string out;
};

Captured run_devices(const std::vector<std::string>& args) {
  std::stringstream buffer;
  std::streambuf* old = std::cout.rdbuf(buffer.rdbuf());
  Captured c;
  c.exit_code = cli::devices_main(args, cli::GlobalOptions{});
  std::cout.rdbuf(old);
  c.out = buffer.str();
  return c;
}

class DevicesE2e : public PcscE2eTest {};

TEST_F(DevicesE2e, TableShowsSerialFirmwareAndInitialization) {
  const auto c = run_devices({});
  ASSERT_EQ(c.exit_code, 0) << c.out;
  EXPECT_THAT(c.out, ::testing::ContainsRegex("READER +CARD +SERIAL +FIRMWARE +INITIALIZED"));
  EXPECT_THAT(c.out,
              ::testing::ContainsRegex("hsmctl vcard 00 00 +yes +E2E0C0FFEE000001 +6\\.6 +no"))
      << c.out;
  EXPECT_THAT(c.out, ::testing::ContainsRegex("hsmctl vcard 00 01 +yes +- +- +- +not a "
                                              "SmartCard-HSM \\(.*6A82"))
      << c.out;
}

TEST_F(DevicesE2e, JsonOutput) {
  const auto c = run_devices({"-o", "json"});
  ASSERT_EQ(c.exit_code, 0) << c.out;
  const auto j = nlohmann::json::parse(c.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << c.out;
  ASSERT_TRUE(j.contains("readers"));
  const auto& readers = j["readers"];
  ASSERT_EQ(readers.size(), 2U) << c.out;
  EXPECT_EQ(readers[0]["reader"], kReader0);
  EXPECT_EQ(readers[0]["card_present"], true);
  EXPECT_EQ(readers[0]["atr"], kPicoAtrHex);
  EXPECT_EQ(readers[0]["serial"], kVcardSerial);
  EXPECT_EQ(readers[0]["firmware"], "6.6");
  EXPECT_EQ(readers[0]["pico"], true);
  EXPECT_EQ(readers[0]["initialized"], false);
  EXPECT_TRUE(readers[0]["error"].is_null());
  EXPECT_EQ(readers[1]["smartcard_hsm"], false);
  EXPECT_TRUE(readers[1]["serial"].is_null());
  EXPECT_TRUE(readers[1]["error"].is_string());
}

TEST_F(DevicesE2e, InitializedCardIsReportedAsInitialized) {
  const auto init = run_process({"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin",
                                 "3537363231383830", "--pin", "648219"});
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();
  const auto c = run_devices({"--output", "json"});
  ASSERT_EQ(c.exit_code, 0) << c.out;
  const auto j = nlohmann::json::parse(c.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << c.out;
  EXPECT_EQ(j["readers"][0]["initialized"], true) << c.out;
  EXPECT_EQ(j["readers"][0]["options"], "0001") << c.out;
}

TEST_F(DevicesE2e, TheHsmctlBinaryListsTheCard) {
  const auto r = run_hsmctl({"devices"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, ::testing::ContainsRegex("hsmctl vcard 00 00 +yes +E2E0C0FFEE000001"))
      << r.diagnostics();
}

TEST_F(DevicesE2e, WithoutPcscdTheBinaryExits69AndSaysWhy) {
  const auto r = run_hsmctl({"devices"}, {{"PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm"}});
  EXPECT_EQ(r.exit_code, cli::kExitUnavailable) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("hsmctl: error: pcscd is not running (or PCSCLITE_CSOCK_NAME "
                               "points elsewhere): no service at /nonexistent/pcscd.comm"))
      << r.diagnostics();
  EXPECT_EQ(r.out, "");
}

TEST_F(DevicesE2e, BadOutputFormatIsAUsageError) {
  const auto c = run_devices({"-o", "yaml"});
  EXPECT_EQ(c.exit_code, cli::kExitUsage);
}

}  // namespace
}  // namespace hsmctl::e2e
