// SPDX-License-Identifier: Apache-2.0
// The encrypted store at its edges (issue 9, item 4): stale snapshots, symlinked stores, foreign
// owners, read-only media.
#include "store_test_support.hpp"

#include "hsmctl/store/encrypted_store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;
namespace fs = std::filesystem;

Secret S(const char* v) {
  return Secret(std::string_view(v));
}

class StoreEdges : public ::testing::Test {
 protected:
  Result<EncryptedStore> create(const std::string& path) {
    return EncryptedStore::create(path, passphrase(kPassphrase), KeyMode::kPassphrase,
                                  weak_options());
  }
  Result<EncryptedStore> open(const std::string& path) {
    return EncryptedStore::open(path, passphrase(kPassphrase), weak_options());
  }
  TempDir dir_;
  std::string path_ = dir_.file("store.hsmctl");
};

// A process killed between mkstemp and rename leaves ".store.hsmctl.XXXXXX" (an encrypted
// snapshot, possibly with pending values). The next successful write removes it; files that
// only look similar are left alone.
TEST_F(StoreEdges, StaleSnapshotsAreRemovedOnTheNextWrite) {
  ASSERT_TRUE(create(path_));
  for (const char* name : {".store.hsmctl.a1B2c3", ".store.hsmctl.ZZZZZZ"}) {
    std::ofstream(dir_.file(name)) << "stale snapshot";
  }
  std::ofstream(dir_.file(".store.hsmctl.keep")) << "not a snapshot name";
  std::ofstream(dir_.file("other.hsmctl.a1B2c3")) << "another file";
  auto store = open(path_);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE(store->set({"", "x"}, S(kPinA)));
  ASSERT_TRUE(store->fold_log());  // the next rewrite of the file
  EXPECT_FALSE(fs::exists(dir_.file(".store.hsmctl.a1B2c3")));
  EXPECT_FALSE(fs::exists(dir_.file(".store.hsmctl.ZZZZZZ")));
  EXPECT_TRUE(fs::exists(dir_.file(".store.hsmctl.keep")));
  EXPECT_TRUE(fs::exists(dir_.file("other.hsmctl.a1B2c3")));
}

// A symlinked store is written through to its target: the link stays a link and the target
// holds the new value (before: the first write replaced the link by a regular file).
TEST_F(StoreEdges, SymlinkedStoreIsWrittenThroughToItsTarget) {
  const std::string target = dir_.file("real/store.hsmctl");
  ASSERT_TRUE(create(target));
  const std::string link = dir_.file("link.hsmctl");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  {
    auto store = open(link);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set({"", "x"}, S(kPinA)));
  }
  EXPECT_TRUE(fs::is_symlink(link));
  auto direct = open(target);
  ASSERT_TRUE(direct) << direct.error().message;
  auto value = direct->current({"", "x"});
  ASSERT_TRUE(value && *value) << "the target did not get the write";
  EXPECT_EQ((*value)->view(), kPinA);
  // A dangling link is refused, not replaced.
  const std::string dangling = dir_.file("dangling.hsmctl");
  ASSERT_EQ(::symlink(dir_.file("nowhere").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(open(dangling));
  EXPECT_TRUE(fs::is_symlink(dangling));
}

// A store owned by another user is refused (hsmctl running as root must not adopt it).
TEST_F(StoreEdges, StoreOwnedByAnotherUserIsRefused) {
  ASSERT_TRUE(create(path_));
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root to give the file to another user";
  ASSERT_EQ(::chown(path_.c_str(), 4242, 4242), 0);
  auto store = open(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kStore);
  EXPECT_NE(store.error().message.find("owned by uid 4242"), std::string::npos)
      << store.error().message;
  ASSERT_EQ(::chown(path_.c_str(), 0, 0), 0);
  EXPECT_TRUE(open(path_));
}

// A store on read-only media can be read (shared lock, or no lock file at all). Runs in a child
// in its own mount namespace, where a tmpfs is mounted and then remounted read-only.
TEST_F(StoreEdges, StoreOnAReadOnlyFilesystemCanBeRead) {
  const std::string mnt = dir_.file("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "mode=0700") != 0) {
      _exit(77);
    }
    const std::string store_path = mnt + "/store.hsmctl";
    {
      auto store = create(store_path);
      if (!store || !store->set({"", "x"}, S(kPinA)))
        _exit(10);
    }
    ::unlink((store_path + ".lock").c_str());  // as on media written elsewhere
    if (::mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0)
      _exit(77);
    auto store = open(store_path);
    if (!store) {
      std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
      _exit(11);
    }
    auto value = store->current({"", "x"});
    if (!value || !*value || (*value)->view() != kPinA)
      _exit(12);
    auto list = store->list();
    if (!list)
      _exit(13);
    // A write still fails, with an error, not a crash.
    if (store->set({"", "y"}, S(kPinB)))
      _exit(14);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == 77)
    GTEST_SKIP() << "no private mount namespace here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's stderr";
}

// An older copy of the store put back, or another store (same passphrase) put in its place, is
// refused; removing the record beside the store accepts it deliberately.
TEST_F(StoreEdges, RollbackAndSwapAreDetected) {
  {
    auto store = create(path_);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set({"", "x"}, S(kPinA)));
  }
  const std::string backup = dir_.file("backup.hsmctl");
  fs::copy_file(path_, backup);
  {
    auto store = open(path_);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set({"", "y"}, S(kPinB)));
  }
  fs::copy_file(backup, path_, fs::copy_options::overwrite_existing);
  auto rolled_back = open(path_);
  ASSERT_FALSE(rolled_back);
  EXPECT_EQ(rolled_back.error().code, Errc::kStore);
  EXPECT_NE(rolled_back.error().message.find("older"), std::string::npos)
      << rolled_back.error().message;

  const std::string other = dir_.file("other/store.hsmctl");
  {
    auto store = create(other);
    ASSERT_TRUE(store) << store.error().message;
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(store->set({"", "z"}, S(kPinA)));
  }
  fs::copy_file(other, path_, fs::copy_options::overwrite_existing);
  auto swapped = open(path_);
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message.find("not the store hsmctl last wrote here"), std::string::npos)
      << swapped.error().message;

  ASSERT_TRUE(fs::remove(path_ + ".seen"));
  EXPECT_TRUE(open(path_)) << "removing the record accepts the store";
}

}  // namespace
}  // namespace hsmctl::store
