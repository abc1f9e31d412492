// SPDX-License-Identifier: Apache-2.0
#pragma once
// End-to-end test support: a private pcscd with hsmctl-vcard behind it (started through
// scripts/pcscd-sandbox), child processes with captured output, and a GoogleTest fixture that
// gives each test suite its own fresh virtual Pico HSM.
//
// Usage in a new e2e test file (tests/e2e/*_test.cpp is globbed):
//
//   class MyScenario : public hsmctl::e2e::PcscE2eTest {};
//   TEST_F(MyScenario, Works) {
//     auto r = run_hsmctl({"devices"});
//     EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
//   }
//
// A suite that needs other card options hides SetUpTestSuite:
//   static void SetUpTestSuite() { start_suite({.second_serial = "..."}); }
//
// Never skip: when pcscd, vpcd or systemd-socket-activate is missing, SetUp() fails the test
// with the sandbox script's message.

#include "support/process.hpp"

#include "hsmctl/util/error.hpp"

#include <gtest/gtest.h>

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hsmctl::e2e {

/// Chip serial of the default virtual card (slot 0).
inline constexpr const char* kVcardSerial = "E2E0C0FFEE000001";
/// Reader names pcscd gives the two vpcd slots (FRIENDLYNAME "hsmctl vcard").
inline constexpr const char* kReader0 = "hsmctl vcard 00 00";
inline constexpr const char* kReader1 = "hsmctl vcard 00 01";
/// The Pico HSM ATR, as pcscd reports it.
inline constexpr const char* kPicoAtrHex = "3BFE1800008131FE458031815448534D31738021408107FA";

/// Paths baked in at build time.
std::string hsmctl_bin();
std::string vcard_bin();
std::string sandbox_script();

/// A PicoHSM manifest for the default card: metadata.name "ca", spec.device.serial kVcardSerial,
/// the PINs from the environment variables USER_PIN and SO_PIN (pin_store_env), then
/// `extra_spec` (lines indented by two spaces, each ending in a newline) appended to spec.
std::string pico_manifest(const std::string& extra_spec = "");

/// The environment for run_hsmctl with pico_manifest: USER_PIN, SO_PIN, a credential store and
/// its key file in `dir`, NO_COLOR.
std::map<std::string, std::string> pin_store_env(const std::string& dir, const std::string& pin,
                                                 const std::string& so_pin);

/// Child processes: the shared runner (PATH lookup, timeout, kill by PID, captured output).
using testing::ProcessResult;
using testing::run_process;

struct SandboxOptions {
  std::string serial = kVcardSerial;  ///< slot-0 chip serial (fresh in-memory card)
  std::string state_file;             ///< when set: the card lives in this file (serial ignored
                                      ///< unless the file exists already)
  std::string second_serial;          ///< when set: slot 1 holds a second Pico HSM
};

/// One private pcscd + hsmctl-vcard. All sandboxes of a process share one directory (so the
/// socket path, which libpcsclite caches per process, stays valid); only one runs at a time.
class PcscSandbox {
 public:
  /// Starts pcscd and the card and sets PCSCLITE_CSOCK_NAME for this process and its children.
  /// Errc::kUnavailable with the script's output when anything is missing or fails.
  static Result<std::unique_ptr<PcscSandbox>> start(const SandboxOptions& options);
  ~PcscSandbox();
  PcscSandbox(const PcscSandbox&) = delete;
  PcscSandbox& operator=(const PcscSandbox&) = delete;

  const std::string& dir() const { return dir_; }
  std::string socket_path() const { return dir_ + "/pcscd.comm"; }
  int port() const { return port_; }
  pid_t pcscd_pid() const { return pcscd_pid_; }
  pid_t vcard_pid() const { return vcard_pid_; }
  const SandboxOptions& options() const { return options_; }

  /// SIGKILLs hsmctl-vcard (by PID) and waits until the process is gone, as on a USB unplug.
  /// With Debian 12's vpcd this also makes pcscd abort on its next presence poll (docs/pcsc.md),
  /// so call restart() before using PC/SC again.
  Result<void> kill_card();
  /// Stops pcscd and the card and starts both again with the same options and socket path (a
  /// state file keeps the card's content; an in-memory card starts fresh).
  Result<void> restart();
  /// Polls pcscd (up to `timeout_s`) until reader 00 00 reports the card present / absent.
  Result<void> wait_for_card(bool present, int timeout_s = 20) const;
  /// Last lines of the pcscd and vcard logs, for failure messages.
  std::string logs() const;

 private:
  PcscSandbox() = default;
  Result<void> launch();
  void stop();

  std::string dir_;
  SandboxOptions options_;
  int port_ = 0;
  pid_t pcscd_pid_ = -1;
  pid_t vcard_pid_ = -1;
};

/// Fixture: one sandbox per test suite (started in SetUpTestSuite, stopped in TearDownTestSuite).
class PcscE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_suite(SandboxOptions{}); }
  static void TearDownTestSuite();
  /// Fails the test (never skips) when the suite's sandbox did not start.
  void SetUp() override;

  static void start_suite(const SandboxOptions& options);
  static PcscSandbox& sandbox() { return *sandbox_; }

  /// Runs the hsmctl binary with PCSCLITE_CSOCK_NAME pointing at the sandbox.
  static ProcessResult run_hsmctl(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env = {},
                                  const std::string& input = "");

 private:
  static std::unique_ptr<PcscSandbox> sandbox_;
  static std::string start_error_;
};

}  // namespace hsmctl::e2e
