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

}  // namespace
}  // namespace hsmctl::testing
