// SPDX-License-Identifier: Apache-2.0
// Locks between hsmctl processes (util/held_lock.hpp, docs/locking.md): bounded waits that name
// the holder. flock() locks belong to an open file description, so two acquisitions in one
// process exclude each other exactly as two processes do.
#include "hsmctl/util/held_lock.hpp"

#include <gmock/gmock.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace hsmctl {
namespace {

using ::testing::HasSubstr;

class HeldLock : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = lock_wait(); }
  void TearDown() override { set_lock_wait(saved_); }
  static void wait_for(std::chrono::milliseconds timeout, const std::string& holder) {
    LockWait w;
    w.timeout = timeout;
    w.holder = holder;
    set_lock_wait(w);
  }
  LockWait saved_;
};

std::string content(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(HeldLock, TheHolderWritesWhoItIsAndAWaiterGivesUpNamingIt) {
  wait_for(std::chrono::milliseconds(200), "hsmctl apply");
  auto first = acquire_held_lock("store.run.lock", "credential store s");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  const std::string line = content("store.run.lock");
  EXPECT_THAT(line, HasSubstr("pid " + std::to_string(getpid()) + " (hsmctl apply) on host "));
  EXPECT_THAT(line, HasSubstr(" since 20"));

  const auto started = std::chrono::steady_clock::now();
  auto second = acquire_held_lock("store.run.lock", "credential store s");
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kUnavailable);
  EXPECT_THAT(second.error().message,
              HasSubstr("credential store s is in use by pid " + std::to_string(getpid()) +
                        " (hsmctl apply) on host "));
  EXPECT_THAT(second.error().message, HasSubstr("(waited 0.2 s; --lock-timeout sets how long)"));
  EXPECT_GE(waited, std::chrono::milliseconds(200));  // it did wait, and gave up
}

TEST_F(HeldLock, AWaiterGetsTheLockOnceTheHolderLetsGo) {
  wait_for(std::chrono::seconds(30), "hsmctl apply");
  auto first = acquire_held_lock("x.lock", "simulator x");
  ASSERT_TRUE(first.has_value());
  std::thread releaser([lock = std::move(*first)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    FileLock gone = std::move(lock);  // released when `gone` leaves scope
  });
  const auto started = std::chrono::steady_clock::now();
  auto second = acquire_held_lock("x.lock", "simulator x");
  const auto waited = std::chrono::steady_clock::now() - started;
  releaser.join();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_GE(waited, std::chrono::milliseconds(100));
  EXPECT_LT(waited, std::chrono::seconds(30));
}

TEST_F(HeldLock, ZeroTimeoutFailsAtOnceWhenHeldAndSucceedsWhenFree) {
  wait_for(std::chrono::milliseconds(0), "hsmctl plan");
  auto first = acquire_held_lock("y.lock", "reader 'r'");
  ASSERT_TRUE(first.has_value());
  auto second = acquire_held_lock("y.lock", "reader 'r'", /*announce=*/false);
  ASSERT_FALSE(second.has_value());
  EXPECT_THAT(second.error().message, HasSubstr("reader 'r' is in use by pid"));
}

TEST_F(HeldLock, AHolderThatWroteNothingIsStillReported) {
  wait_for(std::chrono::milliseconds(0), "hsmctl apply");
  auto silent = acquire_held_lock("z.lock", "simulator z", /*announce=*/false);
  ASSERT_TRUE(silent.has_value());
  auto second = acquire_held_lock("z.lock", "simulator z");
  ASSERT_FALSE(second.has_value());
  EXPECT_THAT(second.error().message,
              HasSubstr("simulator z is in use by another process (it wrote no holder line)"));
}

TEST(HostLockDir, OnlyAPrivateDirectoryOfThisUserIsUsed) {
  const std::string cwd = std::filesystem::current_path().string();
  ASSERT_EQ(mkdir("open", 0755), 0);
  ASSERT_EQ(chmod("open", 0755), 0);  // whatever the umask made of it
  setenv("HSMCTL_LOCK_DIR", (cwd + "/open").c_str(), 1);
  EXPECT_FALSE(host_lock_dir().has_value()) << "a directory others can enter is not ours";
  setenv("HSMCTL_LOCK_DIR", (cwd + "/fresh").c_str(), 1);
  auto dir = host_lock_dir();
  ASSERT_TRUE(dir.has_value());
  struct stat st {};
  ASSERT_EQ(stat(dir->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(symlink((cwd + "/fresh").c_str(), "link"), 0);
  setenv("HSMCTL_LOCK_DIR", (cwd + "/link").c_str(), 1);
  EXPECT_FALSE(host_lock_dir().has_value()) << "a symlink could point anywhere";
  unsetenv("HSMCTL_LOCK_DIR");
}

TEST(LockFileName, ReaderNamesBecomePlainFileNames) {
  EXPECT_EQ(lock_file_name("Nitrokey HSM (DENK0100000) 00 00"), "Nitrokey_HSM__DENK0100000__00_00");
  EXPECT_EQ(lock_file_name("../../etc/passwd"), ".._.._etc_passwd");
  EXPECT_EQ(lock_file_name(std::string(500, 'a')).size(), 240u);
}

}  // namespace
}  // namespace hsmctl
