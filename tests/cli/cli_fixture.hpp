// SPDX-License-Identifier: Apache-2.0
#pragma once
// Runs the real hsmctl binary against a simulator file and a private credential store.

#include "support/files.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace hsmctl::testing {

inline constexpr const char* kSerial = "0102030405060708";

/// A PicoHSM manifest whose PINs come from env USER_PIN / SO_PIN; `extra` is appended to spec.
inline std::string pico_manifest(const std::string& extra = "", const std::string& name = "hsm-a") {
  return "apiVersion: hsmctl.dev/v1alpha1\n"
         "kind: PicoHSM\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  device: {serial: \"" +
         std::string(kSerial) +
         "\"}\n"
         "  userPin: {secret: \"env:USER_PIN\"}\n"
         "  soPin: {secret: \"env:SO_PIN\"}\n" +
         extra;
}

class CliTest : public ::testing::Test {
 protected:
  /// Runs `hsmctl args...` with the test's store and PIN environment; records all output.
  /// After `timeout_seconds` the process is killed (exit code 128+SIGKILL).
  ProcessResult hsmctl(std::vector<std::string> args, const std::string& input = {},
                       int timeout_seconds = 120) {
    args.insert(args.begin(), HSMCTL_BIN);
    std::map<std::string, std::string> env = env_;
    env["HSMCTL_STORE"] = dir_.file("store.hsmctl");
    env["HSMCTL_STORE_KEY_FILE"] = dir_.file("store.key");
    env["NO_COLOR"] = "1";
    ProcessResult r = run_process(args, env, input, timeout_seconds);
    transcript_ += r.out + r.err;
    return r;
  }
  std::string device() const { return "sim:" + dir_.file("pico.json"); }
  std::string manifest_file(const std::string& text) {
    std::string path = dir_.file("manifest-" + std::to_string(++manifests_) + ".yaml");
    write_text(path, text);
    return path;
  }

  TempDir dir_;
  std::map<std::string, std::string> env_ = {{"USER_PIN", "64821907"},
                                             {"SO_PIN", "3537363231383830"}};
  std::string transcript_;  ///< everything any hsmctl run printed
  int manifests_ = 0;
};

}  // namespace hsmctl::testing
