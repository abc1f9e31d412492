// SPDX-License-Identifier: Apache-2.0
// `hsmctl dkek create|kcv` through the real binary (issue 11): the password never reaches the
// output, an existing share file is never touched, the exit codes of docs/exit-codes.md.
// --test-iterations keeps each derivation cheap (the real count is tested in
// tests/unit/secrets/dkek_share_test.cpp and tests/e2e/dkek_e2e_test.cpp).
#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <sys/stat.h>

#include <regex>
#include <string>
#include <vector>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPw1 = "dkek-cli-test-password-one";
constexpr const char* kPw2 = "dkek-cli-test-password-two";

class DkekCli : public CliTest {
 protected:
  void SetUp() override {
    env_["DKEK_PW1"] = kPw1;
    env_["DKEK_PW2"] = kPw2;
  }
  // The 16 hex digits after `prefix` in `out`, or "" (fails the test).
  static std::string kcv_after(const std::string& out, const std::string& prefix) {
    std::smatch m;
    const std::regex re(prefix + "([0-9A-F]{16})\n");
    if (!std::regex_search(out, m, re)) {
      ADD_FAILURE() << "no '" << prefix << "<KCV>' line in:\n" << out;
      return "";
    }
    return m[1];
  }
  void TearDown() override {
    EXPECT_THAT(transcript_, Not(HasSubstr(kPw1)));
    EXPECT_THAT(transcript_, Not(HasSubstr(kPw2)));
  }
};

TEST_F(DkekCli, CreateThenKcvAndNeverOverwrite) {
  const std::string file = dir_.file("custodian-1.pbe");
  auto r = hsmctl({"dkek", "create", file, "--password", "env:DKEK_PW1", "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("DKEK share written to " + file + " (mode 0600)\n"));
  const std::string kcv = kcv_after(r.out, "KCV of this share: ");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 64);

  // The KCV of a DKEK made of this share alone is the share's KCV.
  r = hsmctl({"dkek", "kcv", file, "--password", "env:DKEK_PW1", "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_EQ(kcv_after(r.out, "KCV of the DKEK made of 1 share: "), kcv);

  // A second create on the same FILE: exit 1, the file untouched, the cause named.
  const std::string before = read_text(file);
  r = hsmctl({"dkek", "create", file, "--password", "env:DKEK_PW2", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("refusing to create the DKEK share file " + file + ": it exists"));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_text(file), before);

  // Wrong password: exit 1, named file, no secret.
  r = hsmctl({"dkek", "kcv", file, "--password", "env:DKEK_PW2", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr(file + ": cannot decrypt the DKEK share: wrong password"));
}

TEST_F(DkekCli, KcvOfTwoSharesDiffersFromEach) {
  const std::string a = dir_.file("a.pbe");
  const std::string b = dir_.file("b.pbe");
  auto ra = hsmctl({"dkek", "create", a, "--password", "env:DKEK_PW1", "--test-iterations", "2"});
  auto rb = hsmctl({"dkek", "create", b, "--password", "env:DKEK_PW2", "--test-iterations", "2"});
  ASSERT_EQ(ra.exit_code, 0) << ra.diagnostics();
  ASSERT_EQ(rb.exit_code, 0) << rb.diagnostics();
  auto r = hsmctl({"dkek", "kcv", a, b, "--password", "env:DKEK_PW1", "--password", "env:DKEK_PW2",
                   "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  const std::string both = kcv_after(r.out, "KCV of the DKEK made of 2 shares: ");
  EXPECT_NE(both, kcv_after(ra.out, "KCV of this share: "));
  EXPECT_NE(both, kcv_after(rb.out, "KCV of this share: "));
  // Passwords pair with files in order: swapped, the first file fails.
  r = hsmctl({"dkek", "kcv", a, b, "--password", "env:DKEK_PW2", "--password", "env:DKEK_PW1",
              "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr(a + ": cannot decrypt"));
}

TEST_F(DkekCli, FileAndStoreReferences) {
  // file:PATH, mode 0600 (one trailing newline dropped), as in manifests.
  const std::string pw_file = dir_.file("pw.txt");
  ASSERT_TRUE(write_text(pw_file, std::string(kPw1) + "\n", 0600));
  const std::string a = dir_.file("a.pbe");
  auto r = hsmctl({"dkek", "create", a, "--password", "file:" + pw_file, "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  const std::string kcv = kcv_after(r.out, "KCV of this share: ");
  // The same password from the environment opens the file: the newline was not part of it.
  r = hsmctl({"dkek", "kcv", a, "--password", "env:DKEK_PW1", "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_EQ(kcv_after(r.out, "KCV of the DKEK made of 1 share: "), kcv);
  // A password file others can read is refused (exit 1).
  const std::string open_file = dir_.file("pw-open.txt");
  ASSERT_TRUE(write_text(open_file, kPw1, 0644));
  r = hsmctl({"dkek", "kcv", a, "--password", "file:" + open_file, "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("chmod 600"));

  // store:NAME, an entry of the credential store.
  r = hsmctl({"store", "init", "--mode", "key-file"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  r = hsmctl({"store", "set", "dkek-pw"}, kPw2);
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  const std::string b = dir_.file("b.pbe");
  r = hsmctl({"dkek", "create", b, "--password", "store:dkek-pw", "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  r = hsmctl({"dkek", "kcv", b, "--password", "env:DKEK_PW2", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  r = hsmctl({"dkek", "kcv", b, "--password", "store:missing", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("store:missing does not exist"));
}

TEST_F(DkekCli, UsageErrorsNeverEchoAPassword) {
  const std::string file = dir_.file("x.pbe");
  // A password typed where a reference belongs is refused without being printed.
  auto r = hsmctl({"dkek", "create", file, "--password", kPw1});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("--password takes a secret reference"));
  r = hsmctl({"dkek", "create", file});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  r = hsmctl({"dkek", "kcv", file, file, "--password", "env:DKEK_PW1"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("one --password per FILE"));
  r = hsmctl({"dkek", "rotate"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  // An unset variable is a secret error (exit 1), and no file is created.
  r = hsmctl({"dkek", "create", file, "--password", "env:DKEK_UNSET", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("DKEK_UNSET is not set"));
  struct stat st {};
  EXPECT_NE(::stat(file.c_str(), &st), 0);
  r = hsmctl({"dkek", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("--password"));
}

TEST_F(DkekCli, PasswordSharesToFilesThenKcvFromAnyTwo) {
  const std::string file = dir_.file("split.pbe");
  const std::string parts_dir = dir_.file("parts");
  ASSERT_EQ(::mkdir(parts_dir.c_str(), 0700), 0);
  auto r = hsmctl({"dkek", "create", file, "--password-shares", "2/3", "--share-files", parts_dir,
                   "--test-iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_THAT(r.out, HasSubstr("DKEK share written to " + file +
                               " (mode 0600), its password split 2-of-3:\n"));
  const std::string kcv = kcv_after(r.out, "KCV of this share: ");
  std::vector<std::string> parts;
  for (int id = 1; id <= 3; ++id) {
    const std::string path = parts_dir + "/split.pbe.password-share-" + std::to_string(id);
    EXPECT_THAT(r.out, HasSubstr("password share written to " + path + " (mode 0600)"));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    std::string text = read_text(path);
    // PRIME/ID/VALUE: 8 lower-case hex bytes with ':', the ID, the value; one line.
    EXPECT_TRUE(
        std::regex_match(text, std::regex("([0-9a-f]{2}:){7}[0-9a-f]{2}/" + std::to_string(id) +
                                          "/([0-9a-f]{2}:)*[0-9a-f]{2}\n")))
        << "part " << id << " is not PRIME/ID/VALUE";
    parts.push_back(text.substr(text.rfind('/') + 1, text.size() - text.rfind('/') - 2));
    env_["PART_" + std::to_string(id)] = text.substr(0, text.size() - 1);
  }
  // Any two parts give the password back: from the environment and from the files.
  for (const auto& spec :
       {std::string("shares:env:PART_1,env:PART_2"),
        std::string("shares:env:PART_3,file:") + parts_dir + "/split.pbe.password-share-1"}) {
    r = hsmctl({"dkek", "kcv", file, "--password", spec, "--test-iterations", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.diagnostics();
    EXPECT_EQ(kcv_after(r.out, "KCV of the DKEK made of 1 share: "), kcv);
  }
  // The same part twice: named, not echoed.
  r = hsmctl({"dkek", "kcv", file, "--password", "shares:env:PART_2,env:PART_2",
              "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("password share 2: the same share ID as password share 1"));
  // One part alone is not a split password: a usage error.
  r = hsmctl({"dkek", "kcv", file, "--password", "shares:env:PART_1", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  // The existing parts are never overwritten: the second create fails and removes its file.
  const std::string file2 = dir_.file("split2.pbe");
  ASSERT_EQ(::symlink(file.c_str(), (parts_dir + "/split2.pbe.password-share-2").c_str()), 0);
  r = hsmctl({"dkek", "create", file2, "--password-shares", "2/3", "--share-files", parts_dir,
              "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.diagnostics();
  struct stat st {};
  EXPECT_NE(::stat(file2.c_str(), &st), 0);
  EXPECT_NE(::stat((parts_dir + "/split2.pbe.password-share-1").c_str(), &st), 0);
  for (const auto& value : parts)
    EXPECT_THAT(transcript_, Not(HasSubstr(value)));
}

TEST_F(DkekCli, PasswordSharesNeedATerminalOrShareFiles) {
  const std::string file = dir_.file("split.pbe");
  // The tests' standard input and output are no terminal.
  auto r = hsmctl({"dkek", "create", file, "--password-shares", "2/3", "--test-iterations", "2"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  EXPECT_THAT(r.err, HasSubstr("without a terminal, write them to files with --share-files DIR"));
  struct stat st {};
  EXPECT_NE(::stat(file.c_str(), &st), 0);
  // sc-hsm-tool's limits, and IDs up to 9.
  for (const char* tn : {"2/2", "1/3", "4/3", "2/10", "2-3", "/3"}) {
    r = hsmctl({"dkek", "create", file, "--password-shares", tn, "--share-files", dir_.path()});
    EXPECT_EQ(r.exit_code, 64) << tn << r.diagnostics();
  }
  r = hsmctl({"dkek", "create", file, "--password-shares", "2/3", "--password", "env:DKEK_PW1",
              "--share-files", dir_.path()});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  r = hsmctl({"dkek", "create", file, "--password", "shares:env:A,env:B"});
  EXPECT_EQ(r.exit_code, 64) << r.diagnostics();
  EXPECT_NE(::stat(file.c_str(), &st), 0);
}

}  // namespace
}  // namespace hsmctl::testing
