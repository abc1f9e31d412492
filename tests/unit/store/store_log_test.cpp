// SPDX-License-Identifier: Apache-2.0
// The store's log (issue 13: writes batched into the fewest durable commits): every update is one
// encrypted record appended to "<store>.records" and synced, never a rewrite of the store file;
// the file is rewritten when the log is folded (at kFoldAfter records, and when the store object
// goes away). What a reader sees is always the file plus the log.
#include "store_test_support.hpp"

#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;
namespace fs = std::filesystem;

Secret S(const char* v) {
  return Secret(std::string_view(v));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : lines)
    out << l << "\n";
}

class StoreLog : public ::testing::Test {
 protected:
  Result<EncryptedStore> create() {
    return EncryptedStore::create(path_, passphrase(kPassphrase), KeyMode::kPassphrase,
                                  weak_options());
  }
  Result<EncryptedStore> open() {
    return EncryptedStore::open(path_, passphrase(kPassphrase), weak_options());
  }
  std::string records() const { return path_ + ".records"; }
  TempDir dir_;
  std::string path_ = dir_.file("store.hsmctl");
};

TEST_F(StoreLog, AnUpdateIsAppendedNotARewriteAndAnotherProcessSeesIt) {
  auto store = create();
  ASSERT_TRUE(store) << store.error().message;
  const auto file_before = slurp(path_);
  const CredentialKey key{"pico:1", "user-pin"};
  ASSERT_TRUE(store->stage(key, S(kPinA)));
  ASSERT_TRUE(store->commit(key));
  EXPECT_EQ(store->save_count(), 1u) << "only create() wrote the file";
  EXPECT_EQ(slurp(path_), file_before);
  EXPECT_EQ(lines_of(records()).size(), 2u) << "one record per update";

  auto other = open();
  ASSERT_TRUE(other) << other.error().message;
  auto value = other->current(key);
  ASSERT_TRUE(value && value->has_value());
  EXPECT_TRUE((*value)->equals(S(kPinA)));
  EXPECT_EQ(*other->generation(), 1u);
}

TEST_F(StoreLog, TheLogHoldsNoValueInTheClear) {
  auto store = create();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  ASSERT_TRUE(store->stage({"", "a"}, S(kPinB)));
  const std::string log = slurp(records());
  ASSERT_FALSE(log.empty());
  for (const char* secret : {kPinA, kPinB}) {
    EXPECT_EQ(log.find(secret), std::string::npos);
    EXPECT_EQ(log.find(to_hex(bytes_of(secret))), std::string::npos);
  }
}

TEST_F(StoreLog, DestroyingTheStoreFoldsTheLogIntoTheFile) {
  {
    auto store = create();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  }
  EXPECT_EQ(lines_of(records()).size(), 0u) << "the log was emptied by the fold";
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->generation(), 2u);  // create + fold
  EXPECT_TRUE((*store->current({"", "a"}))->equals(S(kPinA)));
}

TEST_F(StoreLog, TheLogIsFoldedWhenItReachesTheLimit) {
  auto store = create();
  ASSERT_TRUE(store);
  for (std::size_t i = 0; i < EncryptedStore::kFoldAfter; ++i)
    ASSERT_TRUE(store->set({"", "e" + std::to_string(i)}, S(kPinA)));
  EXPECT_EQ(*store->generation(), 1u);
  EXPECT_EQ(lines_of(records()).size(), EncryptedStore::kFoldAfter);
  ASSERT_TRUE(store->set({"", "one-more"}, S(kPinB)));
  EXPECT_EQ(*store->generation(), 2u) << "the update past the limit folded the log";
  EXPECT_EQ(lines_of(records()).size(), 0u);
  auto other = open();
  ASSERT_TRUE(other);
  auto list = other->list();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), EncryptedStore::kFoldAfter + 1);
}

// A fold writes the file, then empties the log; a crash in between leaves records that the file
// already holds. They name the older generation and are skipped, never applied twice.
TEST_F(StoreLog, RecordsAlreadyFoldedAreSkipped) {
  auto store = create();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  ASSERT_TRUE(store->rm({"", "a"}));
  const auto log = lines_of(records());
  ASSERT_EQ(log.size(), 2u);
  ASSERT_TRUE(store->fold_log());
  ASSERT_TRUE(store->set({"", "b"}, S(kPinB)));
  auto after_fold = lines_of(records());
  ASSERT_EQ(after_fold.size(), 1u);
  std::vector<std::string> crashed = log;  // the pre-fold records back in front
  crashed.push_back(after_fold[0]);
  write_lines(records(), crashed);
  auto other = open();
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_FALSE(*other->current({"", "a"})) << "the removal stays (old records skipped)";
  EXPECT_TRUE((*other->current({"", "b"}))->equals(S(kPinB)));
}

TEST_F(StoreLog, ATamperedRecordIsRefusedNamingTheLog) {
  auto store = create();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  auto log = lines_of(records());
  ASSERT_EQ(log.size(), 1u);
  // Flip one hex digit of the ciphertext and fix the line's own check: only the AEAD tag can
  // tell. The record log's check is 32-bit FNV-1a over "r1 <stream> <seq> <text>".
  std::string& line = log[0];
  const auto text_at = line.find(" w1.") + 4;
  line[text_at + 30] = line[text_at + 30] == '0' ? '1' : '0';
  const auto body = line.substr(0, line.rfind(' '));
  std::uint32_t h = 2166136261U;
  for (unsigned char c : body) {
    h ^= c;
    h *= 16777619U;
  }
  char check[9];
  std::snprintf(check, sizeof check, "%08x", h);
  line = body + " " + check;
  write_lines(records(), log);
  auto other = open();
  ASSERT_FALSE(other) << "a tampered record must not be skipped silently";
  EXPECT_EQ(other.error().code, Errc::kStore);
  EXPECT_NE(other.error().message.find(records()), std::string::npos) << other.error().message;
  EXPECT_NE(other.error().message.find("authenticate"), std::string::npos) << other.error().message;
}

TEST_F(StoreLog, AMissingRecordIsRefused) {
  auto store = create();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  ASSERT_TRUE(store->set({"", "b"}, S(kPinA)));
  ASSERT_TRUE(store->set({"", "c"}, S(kPinA)));
  auto log = lines_of(records());
  ASSERT_EQ(log.size(), 3u);
  log.erase(log.begin() + 1);
  write_lines(records(), log);
  auto other = open();
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kStore);
  EXPECT_NE(other.error().message.find("missing"), std::string::npos) << other.error().message;
}

TEST_F(StoreLog, AKeyChangeFoldsTheLogUnderTheNewKey) {
  auto store = create();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "a"}, S(kPinA)));
  ASSERT_TRUE(store->change_key(passphrase(kOtherPassphrase), KeyMode::kPassphrase));
  EXPECT_EQ(lines_of(records()).size(), 0u) << "no record under the old key is left";
  auto other = EncryptedStore::open(path_, passphrase(kOtherPassphrase), weak_options());
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_TRUE((*other->current({"", "a"}))->equals(S(kPinA)));
}

}  // namespace
}  // namespace hsmctl::store
