// SPDX-License-Identifier: Apache-2.0
// Secure lock through pcscd (issue 11, "Secure lock: observe ... or refuse it with a clear
// reason"). hsmctl never changes the secure-lock option (its secret would have to live in the
// store and losing it locks the keys away: docs/manifest.md). What is tested here, with OpenSC
// as the independent side: OpenSC sets the option bit on the virtual card (EXTRAS DYNOPS in a
// user-PIN session, as pico-hsm-tool's `secure enable` ends up doing) and reads it back; hsmctl's
// plan then reports it, blocks a manifest that asks for it off (exit 3, no credential changed,
// the bit still set), is in sync with a manifest that asks for it on, and refuses a change that
// would need a re-initialization (secure lock makes INITIALIZE fail) without sending one.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPin = "648219";
constexpr const char* kSoPin = "3537363231383830";
// SELECT the SmartCard-HSM applet, VERIFY the user PIN ("648219" in ASCII).
constexpr const char* kSelect = "00:A4:04:00:0B:E8:2B:06:01:04:01:81:C3:1F:02:01";
constexpr const char* kVerifyPin = "00:20:00:81:06:36:34:38:32:31:39";
// EXTRAS DYNOPS (80 64 06 00): no data reads the 2-byte options; one byte replaces the high byte.
constexpr const char* kReadOptions = "80:64:06:00";
constexpr const char* kSetSecureLockBit = "80:64:06:00:01:04";

class SecureLockE2e : public PcscE2eTest {
 protected:
  void SetUp() override {
    PcscE2eTest::SetUp();
    auto restarted = sandbox().restart();  // a fresh card
    ASSERT_TRUE(restarted) << restarted.error().message;
  }

  // One opensc-tool connection: SELECT, VERIFY, then `apdu`; returns its output.
  static ProcessResult opensc_in_pin_session(const std::string& apdu) {
    return run_process({"opensc-tool", "--reader", "0", "--send-apdu", kSelect, "--send-apdu",
                        kVerifyPin, "--send-apdu", apdu});
  }
};

TEST_F(SecureLockE2e, PlanReportsItBlocksTurningItOffAndRefusesAReinitialization) {
  testing::TempDir dir("secure-lock-e2e");
  const std::string manifest = dir.file("ca.yaml");
  auto write_manifest = [&](const std::string& extra) {
    testing::write_text(manifest, pico_manifest(extra), 0600);
  };
  const auto env = pin_store_env(dir.path(), kPin, kSoPin);

  write_manifest("");
  const auto init = run_hsmctl(
      {"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve", "--allow-reinit"}, env);
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();

  // OpenSC turns secure lock on (the bit only: the lock's secret protocol, EXTRAS 3A, is not
  // what this test is about) and reads the options back.
  const auto set = opensc_in_pin_session(kSetSecureLockBit);
  ASSERT_EQ(set.exit_code, 0) << set.diagnostics();
  const auto read = opensc_in_pin_session(kReadOptions);
  ASSERT_EQ(read.exit_code, 0) << read.diagnostics();
  // opensc-tool prints the response bytes then "SW1 = 90, SW2 = 00" per APDU; high byte 04.
  EXPECT_THAT(read.out, HasSubstr("04 ")) << read.diagnostics();

  // Not mentioned in the manifest: not compared, but the plan says it is on.
  const auto noted =
      run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:", "--detailed-exitcode"}, env);
  EXPECT_EQ(noted.exit_code, 0) << noted.diagnostics();
  EXPECT_THAT(noted.out, HasSubstr("secure lock is enabled")) << noted.diagnostics();

  // The manifest asks for it off: blocked, exit 3, nothing applied.
  write_manifest("  options: {secureLock: false}\n");
  const auto off =
      run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:", "--detailed-exitcode"}, env);
  EXPECT_EQ(off.exit_code, 3) << off.diagnostics();
  EXPECT_THAT(off.out, HasSubstr("secure lock: the manifest asks for it off, the device has it "
                                 "on; hsmctl does not change it"))
      << off.diagnostics();
  EXPECT_THAT(off.out, HasSubstr("pico-hsm-tool.py secure disable")) << off.diagnostics();
  const auto refused = run_hsmctl({"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve",
                                   "--allow-reinit", "--allow-key-loss"},
                                  env);
  EXPECT_EQ(refused.exit_code, 3) << refused.diagnostics();
  const auto still = opensc_in_pin_session(kReadOptions);
  ASSERT_EQ(still.exit_code, 0) << still.diagnostics();
  EXPECT_THAT(still.out, HasSubstr("04 ")) << still.diagnostics();

  // The manifest asks for it on: in sync.
  write_manifest("  options: {secureLock: true}\n");
  const auto on =
      run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:", "--detailed-exitcode"}, env);
  EXPECT_EQ(on.exit_code, 0) << on.diagnostics();
  EXPECT_THAT(on.out, HasSubstr("No changes.")) << on.diagnostics();

  // A change only a re-initialization makes (PIN retries): refused before anything is sent;
  // the device keeps its state (sc-hsm-tool still sees the user PIN with 3 tries).
  write_manifest("  options: {secureLock: true}\n  pinRetries: 2\n");
  const auto reinit = run_hsmctl({"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve",
                                  "--allow-reinit", "--allow-key-loss"},
                                 env);
  EXPECT_EQ(reinit.exit_code, 3) << reinit.diagnostics();
  EXPECT_THAT(reinit.out, HasSubstr("re-initialization needed but secure lock is enabled"))
      << reinit.diagnostics();
  const auto status = run_process({"sc-hsm-tool", "--reader", "0"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, ::testing::ContainsRegex("User PIN tries left +: 3"))
      << status.diagnostics();

  for (const auto* r : {&init, &noted, &off, &refused, &on, &reinit})
    EXPECT_THAT(r->all(), Not(HasSubstr(kPin)));
}

}  // namespace
}  // namespace hsmctl::e2e
