// SPDX-License-Identifier: Apache-2.0
#include "pcsc_fixture.hpp"

#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace hsmctl::e2e {

std::string pico_manifest(const std::string& extra_spec) {
  return std::string(
             "apiVersion: hsmctl.dev/v1alpha1\n"
             "kind: PicoHSM\n"
             "metadata: {name: ca}\n"
             "spec:\n"
             "  device: {serial: \"") +
         kVcardSerial +
         "\"}\n"
         "  userPin: {secret: env:USER_PIN}\n"
         "  soPin: {secret: env:SO_PIN}\n" +
         extra_spec;
}

std::map<std::string, std::string> pin_store_env(const std::string& dir, const std::string& pin,
                                                 const std::string& so_pin) {
  return {{"USER_PIN", pin},
          {"SO_PIN", so_pin},
          {"HSMCTL_STORE", dir + "/store.hsmctl"},
          {"HSMCTL_STORE_KEY_FILE", dir + "/store.key"},
          {"NO_COLOR", "1"}};
}
namespace {

using Clock = std::chrono::steady_clock;

using testing::read_text;

std::string tail(const std::string& text, int lines) {
  std::size_t pos = text.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

/// One directory per test process (see PcscSandbox), removed when the process exits.
const std::string& process_dir() {
  static const testing::TempDir dir("hsmctl-e2e");
  return dir.path();
}

pid_t read_pid(const std::string& path) {
  const std::string text = read_text(path);
  return text.empty() ? -1 : static_cast<pid_t>(std::atol(text.c_str()));
}

/// Gone = no such process, or a zombie (reparented processes may never be reaped in containers).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return true;
  }
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

std::string hsmctl_bin() {
  return HSMCTL_BIN;
}
std::string vcard_bin() {
  return HSMCTL_VCARD_BIN;
}
std::string sandbox_script() {
  return std::string(HSMCTL_SOURCE_DIR) + "/scripts/pcscd-sandbox";
}

// ---- PcscSandbox ----------------------------------------------------------------------------

Result<std::unique_ptr<PcscSandbox>> PcscSandbox::start(const SandboxOptions& options) {
  std::unique_ptr<PcscSandbox> sb(new PcscSandbox());
  sb->options_ = options;
  HSMCTL_TRY(sb->launch());
  return sb;
}

Result<void> PcscSandbox::launch() {
  const std::string& dir = process_dir();
  std::vector<std::string> argv = {sandbox_script(), "start", "--dir", dir, "--vcard", vcard_bin()};
  const bool state_exists =
      !options_.state_file.empty() && std::filesystem::exists(options_.state_file);
  if (!options_.state_file.empty()) {
    argv.insert(argv.end(), {"--state", options_.state_file});
  }
  if (!options_.serial.empty() && (options_.state_file.empty() || !state_exists)) {
    argv.insert(argv.end(), {"--serial", options_.serial});
  }
  if (!options_.second_serial.empty()) {
    argv.insert(argv.end(), {"--second-serial", options_.second_serial});
  }
  // The script talks to pcscd itself; make sure no outer PCSCLITE_CSOCK_NAME confuses it.
  const ProcessResult r = run_process(argv, {{"PCSCLITE_CSOCK_NAME", ""}}, "", 90);
  if (r.exit_code != 0) {
    return make_error(Errc::kUnavailable,
                      fmt::format("could not start the pcscd sandbox (pcscd, vsmartcard-vpcd, "
                                  "systemd-socket-activate and opensc must be installed; this "
                                  "test never skips):\n{}",
                                  r.diagnostics()));
  }
  dir_ = dir;
  port_ = std::atoi(read_text(dir + "/vcard.port").c_str());
  pcscd_pid_ = read_pid(dir + "/pcscd.pid");
  vcard_pid_ = read_pid(dir + "/vcard.pid");
  ::setenv("PCSCLITE_CSOCK_NAME", socket_path().c_str(), 1);
  return {};
}

PcscSandbox::~PcscSandbox() {
  stop();
}

void PcscSandbox::stop() {
  if (dir_.empty()) {
    return;
  }
  run_process({sandbox_script(), "stop", "--dir", dir_}, {}, "", 60);
  dir_.clear();
  pcscd_pid_ = -1;
  vcard_pid_ = -1;
}

Result<void> PcscSandbox::restart() {
  stop();
  return launch();
}

Result<void> PcscSandbox::kill_card() {
  if (vcard_pid_ <= 0 || process_gone(vcard_pid_)) {
    return make_error(Errc::kInternal, "hsmctl-vcard is not running");
  }
  ::kill(vcard_pid_, SIGKILL);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!process_gone(vcard_pid_)) {
    if (Clock::now() > deadline) {
      return make_error(Errc::kInternal, "hsmctl-vcard survived SIGKILL for 10 s");
    }
    sleep_ms(20);
  }
  return {};
}

Result<void> PcscSandbox::wait_for_card(bool present, int timeout_s) const {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::string last;
  for (;;) {
    auto readers = device::pcsc::list_readers();
    if (readers) {
      for (const auto& r : *readers) {
        if (r.name == kReader0) {
          if (r.card_present == present) {
            return {};
          }
          last = r.card_present ? "card present" : "no card";
        }
      }
    } else {
      last = readers.error().message;
    }
    if (Clock::now() > deadline) {
      return make_error(
          Errc::kUnavailable,
          fmt::format("reader '{}' did not report {} within {} s (last: {})\n{}", kReader0,
                      present ? "a card" : "no card", timeout_s, last, logs()));
    }
    sleep_ms(100);
  }
}

std::string PcscSandbox::logs() const {
  return fmt::format("--- pcscd.log (tail) ---\n{}\n--- vcard.log (tail) ---\n{}",
                     tail(read_text(dir_ + "/pcscd.log"), 20),
                     tail(read_text(dir_ + "/vcard.log"), 20));
}

// ---- PcscE2eTest ----------------------------------------------------------------------------

std::unique_ptr<PcscSandbox> PcscE2eTest::sandbox_;
std::string PcscE2eTest::start_error_;

void PcscE2eTest::start_suite(const SandboxOptions& options) {
  sandbox_.reset();  // at most one sandbox per process
  start_error_.clear();
  auto started = PcscSandbox::start(options);
  if (started) {
    sandbox_ = std::move(*started);
  } else {
    start_error_ = started.error().message;
  }
}

void PcscE2eTest::TearDownTestSuite() {
  sandbox_.reset();
}

void PcscE2eTest::SetUp() {
  if (!sandbox_) {
    GTEST_FAIL() << start_error_;
  }
}

ProcessResult PcscE2eTest::run_hsmctl(const std::vector<std::string>& args,
                                      const std::map<std::string, std::string>& env,
                                      const std::string& input) {
  std::vector<std::string> argv = {hsmctl_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> full_env = env;
  if (sandbox_ && full_env.count("PCSCLITE_CSOCK_NAME") == 0) {
    full_env["PCSCLITE_CSOCK_NAME"] = sandbox_->socket_path();
  }
  return run_process(argv, full_env, input);
}

}  // namespace hsmctl::e2e
