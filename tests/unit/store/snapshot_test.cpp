// SPDX-License-Identifier: Apache-2.0
// The in-process snapshot of the decrypted store (issue 13: one decrypt per process): reads and
// writes of one process reuse it, and it never hides what another process or a person did to the
// file (a newer write, a rollback, damage).
#include "store_test_support.hpp"

#include "hsmctl/store/encrypted_store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;
namespace fs = std::filesystem;

Secret S(const char* v) {
  return Secret(std::string_view(v));
}

class StoreSnapshot : public ::testing::Test {
 protected:
  Result<EncryptedStore> create() {
    return EncryptedStore::create(path_, passphrase(kPassphrase), KeyMode::kPassphrase,
                                  weak_options());
  }
  Result<EncryptedStore> open() {
    return EncryptedStore::open(path_, passphrase(kPassphrase), weak_options());
  }
  TempDir dir_;
  std::string path_ = dir_.file("store.hsmctl");
};

TEST_F(StoreSnapshot, OneProcessDecryptsOnceAcrossReadsAndWrites) {
  auto store = create();
  ASSERT_TRUE(store) << store.error().message;
  const CredentialKey key{"pico:1", "user-pin"};
  ASSERT_TRUE(store->stage(key, S(kPinA)));
  ASSERT_TRUE(store->commit(key));
  for (int i = 0; i < 10; ++i) {
    auto value = store->current(key);
    ASSERT_TRUE(value) << value.error().message;
    ASSERT_TRUE(value->has_value());
    EXPECT_TRUE((*value)->equals(S(kPinA)));
    ASSERT_TRUE(store->record_fact(key, "retries-max", std::to_string(i)));
  }
  EXPECT_EQ(store->decrypt_count(), 0u) << "create() wrote the file; nothing to decrypt since";

  auto reopened = open();
  ASSERT_TRUE(reopened) << reopened.error().message;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(reopened->current(key));
  EXPECT_EQ(reopened->decrypt_count(), 1u);
}

TEST_F(StoreSnapshot, AnotherWriterIsSeen) {
  auto mine = create();
  ASSERT_TRUE(mine) << mine.error().message;
  const CredentialKey key{"", "x"};
  ASSERT_TRUE(mine->set(key, S(kPinA)));
  auto theirs = open();
  ASSERT_TRUE(theirs) << theirs.error().message;
  ASSERT_TRUE(theirs->rm(key));
  ASSERT_TRUE(theirs->set(key, S(kPinB)));

  auto value = mine->current(key);
  ASSERT_TRUE(value) << value.error().message;
  ASSERT_TRUE(value->has_value());
  EXPECT_TRUE((*value)->equals(S(kPinB))) << "the other writer's value, not the snapshot's";
  // The other writer's updates arrived through the store's log: the file is unchanged and is
  // not decrypted again.
  EXPECT_EQ(mine->decrypt_count(), 0u);
}

// The snapshot holds exactly the bytes of an older file: putting that file back after another
// process wrote a newer generation must still be refused as a rollback.
TEST_F(StoreSnapshot, RollbackToTheSnapshotsBytesIsRefused) {
  auto mine = create();
  ASSERT_TRUE(mine) << mine.error().message;
  ASSERT_TRUE(mine->set({"", "x"}, S(kPinA)));
  ASSERT_TRUE(mine->current({"", "x"}));
  const std::string copy = dir_.file("copy.hsmctl");
  fs::copy_file(path_, copy);
  {
    auto theirs = open();
    ASSERT_TRUE(theirs) << theirs.error().message;
    ASSERT_TRUE(theirs->set({"", "y"}, S(kPinB)));
  }
  fs::copy_file(copy, path_, fs::copy_options::overwrite_existing);
  auto value = mine->current({"", "x"});
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code, Errc::kStore);
  EXPECT_NE(value.error().message.find("older"), std::string::npos) << value.error().message;
}

// The snapshot is reused without reading the file while stat() shows the same version (inode,
// size, mtime, ctime). An in-place edit that puts the modification time back is still seen: the
// change time cannot be set back.
TEST_F(StoreSnapshot, AnEditThatRestoresTheModificationTimeIsSeen) {
  auto mine = create();
  ASSERT_TRUE(mine) << mine.error().message;
  ASSERT_TRUE(mine->set({"", "x"}, S(kPinA)));
  ASSERT_TRUE(mine->current({"", "x"}));
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    const char was = static_cast<char>(f.get());
    f.seekp(-3, std::ios::end);
    f.put(static_cast<char>(was ^ 0x5a));
  }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);
  auto value = mine->current({"", "x"});
  ASSERT_FALSE(value) << "an edited file must not be answered from memory";
  EXPECT_EQ(value.error().code, Errc::kStore);
}

TEST_F(StoreSnapshot, DamageAfterTheSnapshotIsReported) {
  auto mine = create();
  ASSERT_TRUE(mine) << mine.error().message;
  ASSERT_TRUE(mine->set({"", "x"}, S(kPinA)));
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    const char was = static_cast<char>(f.get());
    f.seekp(-3, std::ios::end);
    f.put(static_cast<char>(was ^ 0x5a));  // one byte of the authentication tag, flipped
  }
  auto value = mine->current({"", "x"});
  ASSERT_FALSE(value) << "a damaged file must not be answered from memory";
  EXPECT_EQ(value.error().code, Errc::kStore);
}

}  // namespace
}  // namespace hsmctl::store
