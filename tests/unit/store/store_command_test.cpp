// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/store_command.hpp"

#include "store_test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

// Runs store subcommands against a store in a temporary directory, with stdin from a pipe.
class StoreCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_secret_file(pass_file_, kPassphrase);
    write_secret_file(backup_file_, kBackupPassphrase);
    write_secret_file(new_pass_file_, kOtherPassphrase);
  }
  void write_secret_file(const std::string& path, const char* value) {
    {
      std::ofstream f(path);
      f << value << "\n";
    }
    ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  }
  StoreCommand command(StoreCommand::Verb verb, const std::string& arg = {}) {
    StoreCommand c;
    c.verb = verb;
    c.store_path = store_path_;
    c.unlock.passphrase_file = pass_file_;
    c.unlock.allow_prompt = false;
    c.other_unlock.allow_prompt = false;
    c.options = weak_options();
    if (verb == StoreCommand::Verb::kExport || verb == StoreCommand::Verb::kImport) {
      c.file = arg;
      c.other_unlock.passphrase_file = backup_file_;
    } else {
      c.name = arg;
    }
    return c;
  }
  // Runs `c` with `input` on stdin; returns the result and appends to out_/err_.
  Result<void> run(const StoreCommand& c, const std::string& input = {}) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    EXPECT_EQ(write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    close(fds[1]);
    std::ostringstream out;
    std::ostringstream err;
    StoreIo io{fds[0], out, err};
    auto r = run_store_command(c, io);
    close(fds[0]);
    last_out_ = out.str();
    all_output_ += out.str() + err.str();
    if (!r)
      all_output_ += r.error().message + "\n";
    return r;
  }

  TempDir dir_;
  std::string store_path_ = dir_.file("data/hsmctl/store.hsmctl");
  std::string pass_file_ = dir_.file("pass");
  std::string backup_file_ = dir_.file("backup-pass");
  std::string new_pass_file_ = dir_.file("new-pass");
  std::string last_out_;
  std::string all_output_;
};

using Verb = StoreCommand::Verb;

TEST_F(StoreCommandTest, ListGetSetRmAndNoValueLeaks) {
  ASSERT_TRUE(run(command(Verb::kInit)));
  EXPECT_NE(last_out_.find("protected by a passphrase"), std::string::npos);
  auto set = command(Verb::kSet, "root-ca");
  set.metadata["source"] = "manual";
  ASSERT_TRUE(run(set, std::string(kPinA) + "\n"));
  ASSERT_TRUE(run(command(Verb::kSet, "pico:E6614C311B4A2B21/so-pin"), kSoPin));
  ASSERT_TRUE(run(command(Verb::kList)));
  const std::string list = last_out_;
  EXPECT_NE(list.find("root-ca"), std::string::npos);
  EXPECT_NE(list.find("pico:E6614C311B4A2B21/so-pin"), std::string::npos);
  EXPECT_NE(list.find("source=manual"), std::string::npos);
  EXPECT_NE(list.find("current"), std::string::npos);

  ASSERT_TRUE(run(command(Verb::kGet, "root-ca")));
  EXPECT_NE(last_out_.find("value hidden"), std::string::npos);
  EXPECT_EQ(last_out_.find(kPinA), std::string::npos);

  // Everything so far printed no secret value (nor its hex form).
  for (const auto& secret : all_secret_values()) {
    EXPECT_EQ(all_output_.find(secret), std::string::npos) << "leaked in:\n" << all_output_;
    EXPECT_EQ(all_output_.find(to_hex(bytes_of(secret))), std::string::npos);
  }

  auto reveal = command(Verb::kGet, "root-ca");
  reveal.reveal = true;
  ASSERT_TRUE(run(reveal));
  EXPECT_EQ(last_out_, std::string(kPinA) + "\n") << "--reveal prints exactly the value";

  ASSERT_TRUE(run(command(Verb::kRm, "root-ca")));
  auto gone = run(command(Verb::kGet, "root-ca"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::kStore);
}

TEST_F(StoreCommandTest, SetNeedsAValueOnStdin) {
  ASSERT_TRUE(run(command(Verb::kInit)));
  auto r = run(command(Verb::kSet, "empty"), "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUsage);
  auto bad = run(command(Verb::kSet, "/"), "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kUsage);
}

TEST_F(StoreCommandTest, MissingStoreIsUnavailableAndNoneIsRefused) {
  auto r = run(command(Verb::kList));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_NE(r.error().message.find("store init"), std::string::npos);
  auto none = command(Verb::kList);
  none.store_path = "none";
  auto n = run(none);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, Errc::kUsage);
}

TEST_F(StoreCommandTest, PasswdExportImport) {
  ASSERT_TRUE(run(command(Verb::kInit)));
  ASSERT_TRUE(run(command(Verb::kSet, "a"), kPinA));
  ASSERT_TRUE(run(command(Verb::kExport, dir_.file("backup.hsmctl"))));
  auto passwd = command(Verb::kPasswd);
  passwd.other_unlock.passphrase_file = new_pass_file_;
  ASSERT_TRUE(run(passwd));
  auto old = run(command(Verb::kList));
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("wrong passphrase"), std::string::npos);
  auto list = command(Verb::kList);
  list.unlock.passphrase_file = new_pass_file_;
  ASSERT_TRUE(run(list));
  EXPECT_NE(last_out_.find("a "), std::string::npos);
  auto rm = command(Verb::kRm, "a");
  rm.unlock.passphrase_file = new_pass_file_;
  ASSERT_TRUE(run(rm));
  auto import = command(Verb::kImport, dir_.file("backup.hsmctl"));
  import.unlock.passphrase_file = new_pass_file_;
  ASSERT_TRUE(run(import));
  EXPECT_NE(last_out_.find("1 added"), std::string::npos);
  for (const auto& secret : all_secret_values()) {
    EXPECT_EQ(all_output_.find(secret), std::string::npos) << all_output_;
  }
}

TEST_F(StoreCommandTest, InitWithKeyFile) {
  auto init = command(Verb::kInit);
  init.unlock.passphrase_file.reset();
  init.unlock.key_file = dir_.file("cfg/store.key");
  ASSERT_TRUE(run(init));
  EXPECT_NE(last_out_.find("key file"), std::string::npos);
  auto list = command(Verb::kList);
  list.unlock = init.unlock;
  ASSERT_TRUE(run(list));
  EXPECT_NE(last_out_.find("no entries"), std::string::npos);
}

TEST(StoreEntryName, SplitsAtTheLastSlash) {
  EXPECT_EQ(parse_entry_name("root-ca").device, "");
  EXPECT_EQ(parse_entry_name("root-ca").name, "root-ca");
  EXPECT_EQ(parse_entry_name("pico:ABC/so-pin").device, "pico:ABC");
  EXPECT_EQ(parse_entry_name("pico:ABC/so-pin").name, "so-pin");
}

}  // namespace
}  // namespace hsmctl::store
