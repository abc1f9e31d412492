// SPDX-License-Identifier: Apache-2.0
// The emulation build of the Pico HSM firmware reports chip serial 0000000000000000 (pico-hsm.md
// 13.1). It is a serial like any other: plan, apply and the store key on it, and nothing calls
// it missing. (The same through pcscd: tests/e2e/firmware_v66_e2e_test.cpp.)

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ZeroSerial : public CliTest {};

TEST_F(ZeroSerial, EmulationSerialIsUsedAsARealSerial) {
  // A simulated device whose chip ID is 0102030405060708 but which, like the emulation build,
  // reports zeros: hsmctl only ever sees the zeros.
  const std::string state_path = dir_.file("pico.json");
  auto get = hsmctl({"get", "--device", device()});  // creates the device file
  ASSERT_EQ(get.exit_code, 0) << get.all();
  std::string state = read_text(state_path);
  const std::string off = "\"emulation_zero_serial\": false";
  const auto at = state.find(off);
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, off.size(), "\"emulation_zero_serial\": true");
  write_text(state_path, state);

  std::string text = pico_manifest();
  text.replace(text.find(kSerial), 16, "0000000000000000");
  const std::string m = manifest_file(text);
  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("(serial 0000000000000000)")) << apply.all();
  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
  auto list = hsmctl({"store", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.all();
  EXPECT_THAT(list.out, HasSubstr("pico:0000000000000000/user-pin")) << list.all();
  EXPECT_THAT(list.out, Not(HasSubstr("0102030405060708"))) << list.all();
  get = hsmctl({"get", "--device", device()});
  ASSERT_EQ(get.exit_code, 0) << get.all();
  EXPECT_THAT(get.out, HasSubstr("0000000000000000")) << get.all();
  EXPECT_THAT(transcript_, Not(HasSubstr("no serial")));
  EXPECT_THAT(transcript_, Not(HasSubstr("serial unreadable")));
}

}  // namespace
}  // namespace hsmctl::testing
