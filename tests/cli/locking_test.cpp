// SPDX-License-Identifier: Apache-2.0
// Two hsmctl runs on one credential store or one device never interleave (docs/locking.md): the
// second waits at most --lock-timeout and then fails (exit 69) naming who holds the lock, before
// anything was sent to the device. The locks here are held by the test itself (flock, as another
// hsmctl would, with its holder line) or by a real `hsmctl apply` whose prepare is slow.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// An exclusive flock held as another hsmctl would hold it (with its holder line).
class ForeignLock {
 public:
  ForeignLock(const std::string& path, const std::string& holder_line) {
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd_, 0) << path;
    EXPECT_EQ(flock(fd_, LOCK_EX | LOCK_NB), 0) << path;
    EXPECT_EQ(ftruncate(fd_, 0), 0);
    EXPECT_EQ(pwrite(fd_, holder_line.data(), holder_line.size(), 0),
              static_cast<ssize_t>(holder_line.size()));
  }
  ~ForeignLock() { release(); }
  ForeignLock(const ForeignLock&) = delete;
  ForeignLock& operator=(const ForeignLock&) = delete;
  void release() {
    if (fd_ >= 0)
      close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string content(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

class Locking : public CliTest {};

TEST_F(Locking, ApplyOnAStoreInUseGivesUpNamingTheHolderBeforeTouchingTheDevice) {
  const std::string m = manifest_file(pico_manifest());
  ForeignLock held(dir_.file("store.hsmctl.run.lock"),
                   "pid 4242 (hsmctl apply) on host ci-runner since 2026-12-05T21:00:00Z\n");
  auto r =
      hsmctl({"--lock-timeout", "0.3", "apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(r.exit_code, 69) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("credential store " + dir_.file("store.hsmctl") +
                               " is in use by pid 4242 (hsmctl apply) on host ci-runner since "
                               "2026-12-05T21:00:00Z (waited 0.3 s; --lock-timeout sets how "
                               "long)"))
      << r.diagnostics();
  EXPECT_THAT(r.all(), Not(HasSubstr("Apply complete"))) << r.diagnostics();
  EXPECT_FALSE(exists(dir_.file("pico.json"))) << "the device was opened while the store was held";
  EXPECT_FALSE(exists(dir_.file("store.hsmctl"))) << "the store was created while held";
}

TEST_F(Locking, PlanOnADeviceInUseGivesUpNamingTheHolder) {
  const std::string m = manifest_file(pico_manifest());
  ASSERT_EQ(hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"}).exit_code, 0);
  ForeignLock held(dir_.file("pico.json.lock"),
                   "pid 4343 (hsmctl apply) on host other since 2026-12-05T21:00:00Z\n");
  env_["HSMCTL_LOCK_TIMEOUT"] = "0.2";
  auto r = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(r.exit_code, 69) << r.diagnostics();
  EXPECT_THAT(r.all(), HasSubstr("simulator " + dir_.file("pico.json") +
                                 " is in use by pid 4343 (hsmctl apply) on host other"))
      << r.diagnostics();
  EXPECT_THAT(r.out, Not(HasSubstr("No changes"))) << r.diagnostics();
}

TEST_F(Locking, ASecondApplyWaitsForTheFirstAndThenRuns) {
  const std::string m = manifest_file(pico_manifest());
  auto held = std::make_unique<ForeignLock>(dir_.file("store.hsmctl.run.lock"),
                                            "pid 4444 (hsmctl apply) on host h since now\n");
  const auto started = std::chrono::steady_clock::now();
  auto waiting = std::async(std::launch::async, [&] {
    return hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "apply did not wait for the store";
  EXPECT_FALSE(exists(dir_.file("pico.json"))) << "apply touched the device while waiting";
  held->release();
  auto r = waiting.get();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("Apply complete")) << r.diagnostics();
}

TEST_F(Locking, ARealApplyHoldsTheStoreUntilItEnds) {
  // A DKEK share whose key derivation takes a few seconds keeps the first apply in its prepare
  // (after it took the store and the card) long enough to be seen holding both.
  const std::string iterations = "1500000";
  env_["DKEK_PW"] = "locking-test-share-password";
  auto c = hsmctl({"dkek", "create", dir_.file("a.pbe"), "--password", "env:DKEK_PW",
                   "--test-iterations", iterations});
  ASSERT_EQ(c.exit_code, 0) << c.diagnostics();
  const std::string m = manifest_file(
      pico_manifest("  keyDomains:\n"
                    "    - dkekShares: 1\n"
                    "      dkek:\n"
                    "        shares: [{file: a.pbe, password: {secret: \"env:DKEK_PW\"}}]\n"));
  env_["HSMCTL_TEST_DKEK_ITERATIONS"] = iterations;
  auto first = std::async(std::launch::async, [this, m] {
    std::map<std::string, std::string> env = env_;
    env["HSMCTL_STORE"] = dir_.file("store.hsmctl");
    env["HSMCTL_STORE_KEY_FILE"] = dir_.file("store.key");
    env["NO_COLOR"] = "1";
    return run_process({HSMCTL_BIN, "apply", "-f", m, "--device", device(), "--auto-approve"}, env);
  });
  // Wait until the first apply holds the store (its holder line), then try a second one.
  const std::string lock = dir_.file("store.hsmctl.run.lock");
  for (int i = 0; i < 200 && content(lock).find("(hsmctl apply)") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_THAT(content(lock), HasSubstr("(hsmctl apply)"));
  auto second =
      hsmctl({"--lock-timeout", "0.1", "apply", "-f", m, "--device", device(), "--auto-approve"});
  const bool first_still_running =
      first.wait_for(std::chrono::seconds(0)) == std::future_status::timeout;
  auto r = first.get();
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  ASSERT_TRUE(first_still_running) << "the first apply ended before the second ran; the test "
                                      "proves nothing (machine too slow?)";
  EXPECT_EQ(second.exit_code, 69) << second.diagnostics();
  EXPECT_THAT(second.err, HasSubstr(" is in use by pid ")) << second.diagnostics();
  EXPECT_THAT(second.err, HasSubstr("(hsmctl apply)")) << second.diagnostics();
  // And afterwards the device is in sync: the first apply was not disturbed.
  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
}

TEST_F(Locking, ALockTimeoutThatIsNoNumberOfSecondsIsAUsageError) {
  for (const char* bad : {"abc", "-1", "nan", "1e9", ""}) {
    auto r = hsmctl({"--lock-timeout", bad, "version"});
    EXPECT_EQ(r.exit_code, 64) << bad << "\n" << r.diagnostics();
  }
  env_["HSMCTL_LOCK_TIMEOUT"] = "soon";
  auto r = hsmctl({"version"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("--lock-timeout / HSMCTL_LOCK_TIMEOUT must be a number of seconds"));
}

}  // namespace
}  // namespace hsmctl::testing
