// SPDX-License-Identifier: Apache-2.0
// The reconcile loop through the real PC/SC stack: hsmctl -> libpcsclite -> private pcscd ->
// vpcd -> hsmctl-vcard, with OpenSC (a client we did not write) checking what hsmctl set.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"
#include "support/typed_load.hpp"

#include "hsmctl/device/connect/open.hpp"
#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <memory>

namespace hsmctl::e2e {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSelectHsm = "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00";

/// A private directory for the store and manifests of one test.
class TestDir : public testing::TempDir {
 public:
  TestDir() : TempDir("hsmctl-e2e") {}
  /// Writes `text` to the file `name` (mode 0600) and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    testing::write_text(file(name), text, 0600);
    return file(name);
  }
};

std::string manifest(const std::string& extra = "") {
  return std::string(
             "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata:\n  name: e2e\n"
             "spec:\n  device: {serial: \"") +
         kVcardSerial +
         "\"}\n  userPin: {secret: \"env:E2E_USER_PIN\"}\n  soPin: {secret: \"env:E2E_SO_PIN\"}\n" +
         extra;
}

std::string verify_apdu(const std::string& pin) {
  std::string hex = to_hex_spaced(bytes_of(pin));
  char len[4];
  std::snprintf(len, sizeof len, "%02X", static_cast<unsigned>(pin.size()));
  return std::string("00 20 00 81 ") + len + " " + hex;
}

class ReconcileE2e : public PcscE2eTest {
 protected:
  ProcessResult hsmctl(std::vector<std::string> args) {
    auto r = run_hsmctl(args, env_);
    transcript_ += r.out + r.err;
    return r;
  }
  TestDir dir_;
  std::map<std::string, std::string> env_ = {
      {"E2E_USER_PIN", "31415926"},
      {"E2E_SO_PIN", "0011223344556677"},
      {"HSMCTL_STORE", dir_.file("store.hsmctl")},
      {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")},
      {"NO_COLOR", "1"},
  };
  std::string transcript_;
};

// One test: the steps build on each other's device state.
TEST_F(ReconcileE2e, FreshToInitializedToRotatedToKeyDomainsOverPcsc) {
  const std::string m = dir_.write("m.yaml", manifest());

  auto plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("via pcsc:"));
  EXPECT_THAT(plan.out, HasSubstr("+ initialize the device"));

  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.diagnostics();

  // OpenSC agrees with what hsmctl set.
  auto status = run_process({"sc-hsm-tool", "--reader", "0"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, HasSubstr("User PIN reset with SO-PIN enabled")) << status.out;
  EXPECT_THAT(status.out, ContainsRegex("SO-PIN tries left +: 15")) << status.out;
  EXPECT_THAT(status.out, ContainsRegex("User PIN tries left +: 3")) << status.out;
  auto verify = run_process(
      {"opensc-tool", "--reader", "0", "-s", kSelectHsm, "-s", verify_apdu("31415926")});
  EXPECT_THAT(verify.out, HasSubstr("SW1=0x90, SW2=0x00")) << verify.diagnostics();

  // Rotate the user PIN and the SO PIN in place.
  env_["E2E_USER_PIN"] = "27182818";
  env_["E2E_SO_PIN"] = "76543210";
  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:"});
  EXPECT_THAT(plan.out, HasSubstr("~ change SO PIN"));
  EXPECT_THAT(plan.out, HasSubstr("~ change user PIN"));
  apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.diagnostics();
  verify = run_process(
      {"opensc-tool", "--reader", "0", "-s", kSelectHsm, "-s", verify_apdu("27182818")});
  EXPECT_THAT(verify.out, HasSubstr("SW1=0x90, SW2=0x00")) << verify.diagnostics();

  // Key domains: flagged as a re-initialization, refused without the flag, then applied.
  const std::string domains =
      dir_.write("domains.yaml", manifest("  keyDomains: [{dkekShares: 1}, {}]\n"));
  plan = hsmctl({"plan", "-f", domains, "--device", "pcsc:"});
  EXPECT_THAT(plan.out, HasSubstr("-/+ re-initialize the device"));
  EXPECT_THAT(plan.out, HasSubstr("spec.keyDomains"));
  apply = hsmctl({"apply", "-f", domains, "--device", "pcsc:", "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 1) << apply.diagnostics();
  EXPECT_THAT(apply.err, HasSubstr("--allow-reinit"));
  plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << "the refused apply changed the device: " << plan.diagnostics();

  apply = hsmctl({"apply", "-f", domains, "--device", "pcsc:", "--auto-approve", "--allow-reinit"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  plan = hsmctl({"plan", "-f", domains, "--device", "pcsc:", "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 0) << plan.diagnostics();
  apply = hsmctl({"apply", "-f", domains, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  EXPECT_THAT(apply.out, HasSubstr("No changes."));

  status = run_process({"sc-hsm-tool", "--reader", "0"});
  EXPECT_THAT(status.out, ContainsRegex("DKEK shares +: 1")) << status.out;

  for (const char* secret : {"31415926", "27182818", "0011223344556677", "76543210"}) {
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
  }
}

class Pkcs11E2e : public ReconcileE2e {};

// After hsmctl apply, OpenSC's PKCS#11 module sees the token and logs in with the PIN hsmctl set.
TEST_F(Pkcs11E2e, OpenscPkcs11ModuleLogsInWithTheAppliedPin) {
  const std::string m = dir_.write("m.yaml", manifest());
  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  const std::string module = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
  auto list = run_process({"pkcs11-tool", "--module", module, "-L"});
  ASSERT_EQ(list.exit_code, 0) << list.diagnostics();
  EXPECT_THAT(list.out, HasSubstr("Pico-HSM"));
  EXPECT_THAT(list.out, HasSubstr("Pol Henarejos"));
  auto login = run_process(
      {"pkcs11-tool", "--module", module, "--login", "--pin", "31415926", "--list-objects"});
  EXPECT_EQ(login.exit_code, 0) << login.diagnostics();
  auto wrong = run_process(
      {"pkcs11-tool", "--module", module, "--login", "--pin", "99999999", "--list-objects"});
  EXPECT_NE(wrong.exit_code, 0) << wrong.diagnostics();
}

class PcscdStopsE2e : public ReconcileE2e {
 protected:
  // The card keeps its state in a file, so a restarted sandbox serves the same device.
  static void SetUpTestSuite() {
    state_dir_ = std::make_unique<testing::TempDir>("hsmctl-e2e-pcscd-stop");
    SandboxOptions options;
    options.state_file = state_dir_->file("card.json");
    start_suite(options);
  }
  static void TearDownTestSuite() {
    PcscE2eTest::TearDownTestSuite();
    state_dir_.reset();  // the state file and its lock
  }

 private:
  static inline std::unique_ptr<testing::TempDir> state_dir_;
};

// pcscd dies while hsmctl holds the card: a clear "unavailable" error, no hang, and once pcscd is
// back the next plan describes the device as it really is.
TEST_F(PcscdStopsE2e, PcscdKilledMidRunIsAClearErrorAndThePlanAfterwardsIsRight) {
  const std::string text = manifest();
  const std::string m = dir_.write("m.yaml", text);
  auto apply = hsmctl({"apply", "-f", m, "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();

  auto loaded = hsmctl::testing::load_typed_text(text, "m.yaml");
  ASSERT_TRUE(loaded.ok());
  for (const auto& [k, v] : env_)
    setenv(k.c_str(), v.c_str(), 1);
  auto transport = device::connect::connect_by_serial(kVcardSerial);
  ASSERT_TRUE(transport) << transport.error().to_string();
  ASSERT_EQ(kill(sandbox().pcscd_pid(), SIGKILL), 0);
  store::EphemeralKeeper keeper;
  auto prepared =
      families::schsm_engine::prepare(loaded.pico_hsms.at(0), std::move(*transport), keeper);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, Errc::kUnavailable) << prepared.error().to_string();

  ASSERT_TRUE(sandbox().restart());
  auto plan = hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
}

class AdoptE2e : public PcscE2eTest {};

// A device initialized by OpenSC is observed correctly, and a manifest of that state (bootstrapped
// with `hsmctl get`) plans no changes.
TEST_F(AdoptE2e, DeviceInitializedByScHsmToolIsAdoptedWithoutChanges) {
  auto init = run_process({"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin",
                           "3537363231383830", "--pin", "648219", "--dkek-shares", "2"});
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();

  TestDir dir;
  auto get = run_hsmctl({"get", "--device", "pcsc:", "--name", "adopted"});
  ASSERT_EQ(get.exit_code, 0) << get.diagnostics();
  EXPECT_THAT(get.out, HasSubstr(kVcardSerial));
  EXPECT_THAT(get.out, HasSubstr("dkekShares: 2"));
  EXPECT_THAT(get.out, Not(HasSubstr("648219")));
  const std::string m = dir.write("adopted.yaml", get.out);
  std::map<std::string, std::string> env = {{"CHANGE_ME_USER_PIN", "648219"},
                                            {"CHANGE_ME_SO_PIN", "3537363231383830"},
                                            {"HSMCTL_STORE", dir.file("s.hsmctl")},
                                            {"HSMCTL_STORE_KEY_FILE", dir.file("s.key")},
                                            {"NO_COLOR", "1"}};
  auto plan = run_hsmctl({"plan", "-f", m, "--device", "pcsc:", "--detailed-exitcode"}, env);
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("No changes."));
}

}  // namespace
}  // namespace hsmctl::e2e
