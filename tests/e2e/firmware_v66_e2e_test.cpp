// SPDX-License-Identifier: Apache-2.0
// What the real Pico HSM v6.6 firmware does and the simulator now reproduces, through pcscd:
// the 798-byte EF 2F02 read with GET RESPONSE chaining, and the emulation build's chip serial
// 0000000000000000 used as a real serial (docs/simulator.md, "firmware v6.6 vs simulator").

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace schsm = device::schsm;

class DeviceCertificateE2e : public PcscE2eTest {};

TEST_F(DeviceCertificateE2e, TheV66CertificateIsReadThroughPcscdWithThreeGetResponses) {
  auto t = device::pcsc::connect_reader(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  schsm::SmartCardHsm hsm(**t);
  ASSERT_TRUE(hsm.select());
  schsm::InitializeParams p;
  p.user_pin = Secret(std::string_view("648219"));
  p.so_pin = Secret(std::string_view("57621880"));
  auto init = hsm.initialize(p);
  ASSERT_TRUE(init) << init.error().message;
  ASSERT_TRUE(hsm.select());
  const int before = (*t)->wire_apdus();
  auto ef = hsm.read_ef(schsm::kEfDeviceCertificate);
  ASSERT_TRUE(ef) << ef.error().message;
  ASSERT_TRUE(ef->has_value());
  EXPECT_EQ((*ef)->size(), 798u);
  // On the wire: READ BINARY + GET RESPONSE x3 (256 + 256 + 256 + 30 bytes). The PC/SC
  // transport follows the 61xx itself, so the protocol layer sees one exchange.
  EXPECT_EQ((*t)->wire_apdus() - before, 4);
  EXPECT_EQ(schsm::device_certificate_is_pki(**ef), std::optional<bool>(false));
}

constexpr const char* kZeroSerial = "0000000000000000";
constexpr const char* kOtherSerial = "E2E0C0FFEE0000AA";

class ZeroSerialE2e : public PcscE2eTest {
 protected:
  // Two Pico HSMs: the emulation build's all-zero serial in slot 0 and another in slot 1, so
  // selection by serial has to pick.
  static void SetUpTestSuite() {
    SandboxOptions options;
    options.serial = kZeroSerial;
    options.second_serial = kOtherSerial;
    start_suite(options);
  }
  void SetUp() override {
    PcscE2eTest::SetUp();
    env_ = {{"USER_PIN", "64821907"},
            {"SO_PIN", "3537363231383830"},
            {"HSMCTL_STORE", dir_.file("store.hsmctl")},
            {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")},
            {"NO_COLOR", "1"}};
  }
  std::string manifest(const std::string& serial) {
    const std::string path = dir_.file("m.yaml");
    testing::write_text(path,
                        "apiVersion: hsmctl.dev/v1alpha1\n"
                        "kind: PicoHSM\n"
                        "metadata: {name: zero}\n"
                        "spec:\n"
                        "  device: {serial: \"" +
                            serial +
                            "\"}\n"
                            "  userPin: {secret: \"env:USER_PIN\"}\n"
                            "  soPin: {secret: \"env:SO_PIN\"}\n",
                        0600);
    return path;
  }
  ProcessResult hsmctl(std::vector<std::string> args) { return run_hsmctl(args, env_); }
  static void expect_no_missing_serial_wording(const ProcessResult& r) {
    for (const std::string* s : {&r.out, &r.err}) {
      EXPECT_THAT(*s, Not(HasSubstr("no serial"))) << r.diagnostics();
      EXPECT_THAT(*s, Not(HasSubstr("serial unreadable"))) << r.diagnostics();
    }
  }

  testing::TempDir dir_{"hsmctl-e2e-zero"};
  std::map<std::string, std::string> env_;
};

TEST_F(ZeroSerialE2e, TheAllZeroSerialSelectsConvergesAndKeysTheStore) {
  auto devices = hsmctl({"devices"});
  ASSERT_EQ(devices.exit_code, 0) << devices.diagnostics();
  EXPECT_THAT(devices.out, HasSubstr(kZeroSerial)) << devices.diagnostics();

  const std::string m = manifest(kZeroSerial);
  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  EXPECT_THAT(apply.out + apply.err, HasSubstr(kZeroSerial)) << apply.diagnostics();
  expect_no_missing_serial_wording(apply);
  auto plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.diagnostics();
  expect_no_missing_serial_wording(plan);

  auto list = hsmctl({"store", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.diagnostics();
  EXPECT_THAT(list.out, HasSubstr(std::string("pico:") + kZeroSerial + "/user-pin"))
      << list.diagnostics();
  EXPECT_THAT(list.out, HasSubstr(std::string("pico:") + kZeroSerial + "/so-pin"))
      << list.diagnostics();

  // The other card was not touched: it is still uninitialized.
  auto other = hsmctl({"plan", "-f", manifest(kOtherSerial), "--device", "pcsc:"});
  EXPECT_THAT(other.out, HasSubstr("initialize")) << other.diagnostics();
}

}  // namespace
}  // namespace hsmctl::e2e
