// SPDX-License-Identifier: Apache-2.0
// The record log beside the store ("<store>.records"): appends are whole lines, read back per
// stream in order, a torn last line is ignored, drop() removes one stream's records up to a
// marker and keeps the rest, and a file others can read is refused.

#include "hsmctl/store/record_log.hpp"

#include "store_test_support.hpp"

#include "hsmctl/store/encrypted_store.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

namespace hsmctl::store {
namespace {

using testing::TempDir;

std::vector<std::string> texts(const std::vector<LogRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records)
    out.push_back(r.text);
  return out;
}

TEST(StoreRecordLog, AppendsAreReadBackPerStreamInOrder) {
  TempDir dir;
  RecordLog log(dir.file("s.records"));
  EXPECT_TRUE(log.read("a")->empty());  // no file yet: no records
  ASSERT_TRUE(log.append("a", "sending fp1 1", true));
  ASSERT_TRUE(log.append("b", "sending fp2 2", true));
  ASSERT_TRUE(log.append("a", "accepted fp1 3", false));
  EXPECT_EQ(texts(*log.read("a")), (std::vector<std::string>{"sending fp1 1", "accepted fp1 3"}));
  EXPECT_EQ(texts(*log.read("b")), (std::vector<std::string>{"sending fp2 2"}));
  struct stat st {};
  ASSERT_EQ(stat(log.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST(StoreRecordLog, ATornLastLineIsIgnored) {
  TempDir dir;
  RecordLog log(dir.file("s.records"));
  ASSERT_TRUE(log.append("a", "sending fp1 1", true));
  {
    std::ofstream out(log.path(), std::ios::app);
    out << "r1 a 0011223344556677 sending fp";  // no newline: the append was cut short
  }
  EXPECT_EQ(texts(*log.read("a")), (std::vector<std::string>{"sending fp1 1"}));
}

TEST(StoreRecordLog, DropRemovesOneStreamUpToTheMarkerAndKeepsTheRest) {
  TempDir dir;
  RecordLog log(dir.file("s.records"));
  ASSERT_TRUE(log.append("a", "op1", true));
  auto marker = log.append("a", "op2", true);
  ASSERT_TRUE(marker);
  ASSERT_TRUE(log.append("b", "other", true));
  ASSERT_TRUE(log.append("a", "op3", true));  // written after the fold was computed
  ASSERT_TRUE(log.drop("a", *marker));
  EXPECT_EQ(texts(*log.read("a")), (std::vector<std::string>{"op3"}));
  EXPECT_EQ(texts(*log.read("b")), (std::vector<std::string>{"other"}));
}

TEST(StoreRecordLog, AFileOthersCanReadIsRefused) {
  TempDir dir;
  RecordLog log(dir.file("s.records"));
  ASSERT_TRUE(log.append("a", "op1", true));
  ASSERT_EQ(chmod(log.path().c_str(), 0644), 0);
  auto read = log.read("a");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::kStore);
  auto appended = log.append("a", "op2", true);
  ASSERT_FALSE(appended);
  EXPECT_EQ(appended.error().code, Errc::kStore);
}

TEST(StoreRecordLog, MalformedRecordsAreRefusedBeforeWriting) {
  TempDir dir;
  RecordLog log(dir.file("s.records"));
  EXPECT_FALSE(log.append("a b", "op", true));
  EXPECT_FALSE(log.append("a", "two\nlines", true));
  EXPECT_FALSE(log.append("a", "", true));
  EXPECT_TRUE(log.read("a")->empty());
}

TEST(StoreRecordLog, TheStoreKeepsRecordsBesideItAndANewStoreStartsWithout) {
  TempDir dir;
  const std::string path = dir.file("store.hsmctl");
  {
    auto s = EncryptedStore::create(path, testing::passphrase(testing::kPassphrase),
                                    KeyMode::kPassphrase, testing::weak_options());
    ASSERT_TRUE(s) << s.error().to_string();
    const auto before = *s->generation();
    ASSERT_TRUE(s->append_record("pin-x", "sending fp 1"));
    EXPECT_EQ(*s->generation(), before);  // an append never rewrites the encrypted file
    EXPECT_EQ(texts(*s->records("pin-x")), (std::vector<std::string>{"sending fp 1"}));
  }
  ASSERT_EQ(std::remove(path.c_str()), 0);
  auto fresh = EncryptedStore::create(path, testing::passphrase(testing::kPassphrase),
                                      KeyMode::kPassphrase, testing::weak_options());
  ASSERT_TRUE(fresh) << fresh.error().to_string();
  EXPECT_TRUE(fresh->records("pin-x")->empty());
}

}  // namespace
}  // namespace hsmctl::store
