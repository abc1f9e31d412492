// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/unlock.hpp"

#include "store_test_support.hpp"
#include "support/files.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

using hsmctl::testing::write_text;

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr)
      old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ScopedEnv(const char* name, std::nullptr_t) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr)
      old_ = old;
    unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(StoreUnlock, PassphraseFileMustBePrivate) {
  TempDir dir;
  const std::string file = dir.file("pass");
  ASSERT_TRUE(write_text(file, std::string(kPassphrase) + "\n", 0600));
  auto ok = read_passphrase_file(file);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->view(), kPassphrase) << "one trailing newline is removed";
  ASSERT_EQ(chmod(file.c_str(), 0640), 0);
  auto loose = read_passphrase_file(file);
  ASSERT_FALSE(loose);
  EXPECT_EQ(loose.error().code, Errc::kStore);
  EXPECT_NE(loose.error().message.find("0640"), std::string::npos);
  ASSERT_EQ(chmod(file.c_str(), 0400), 0);
  EXPECT_TRUE(read_passphrase_file(file));
  ASSERT_TRUE(write_text(dir.file("empty"), "\n", 0600));
  EXPECT_FALSE(read_passphrase_file(dir.file("empty")));
  EXPECT_FALSE(read_passphrase_file(dir.file("missing")));
}

TEST(StoreUnlock, PassphraseFromDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string text = std::string(kPassphrase) + "\nrest";
  ASSERT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fds[1]);
  auto value = read_passphrase_fd(fds[0]);
  ASSERT_TRUE(value);
  EXPECT_EQ(value->view(), kPassphrase);
  char rest[8] = {};
  EXPECT_EQ(read(fds[0], rest, sizeof rest), 4) << "nothing after the newline is consumed";
  close(fds[0]);
  int empty[2];
  ASSERT_EQ(pipe(empty), 0);
  close(empty[1]);
  EXPECT_FALSE(read_passphrase_fd(empty[0]));
  close(empty[0]);
}

TEST(StoreUnlock, NonInteractiveWithoutSourceNamesTheOptions) {
  UnlockOptions o;
  o.allow_prompt = false;
  ConfiguredKeySource source(o);
  auto m = source.material(KeyMode::kPassphrase, false);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kStore);
  EXPECT_NE(m.error().message.find("HSMCTL_STORE_PASSPHRASE_FILE"), std::string::npos);
  EXPECT_NE(m.error().message.find("HSMCTL_STORE_PASSPHRASE_FD"), std::string::npos);
  EXPECT_NE(m.error().message.find("--key-file"), std::string::npos);
}

TEST(StoreUnlock, EnvironmentSourcesAndCaching) {
  TempDir dir;
  const std::string file = dir.file("pass");
  ASSERT_TRUE(write_text(file, kPassphrase, 0600));
  ScopedEnv f("HSMCTL_STORE_PASSPHRASE_FILE", file);
  ScopedEnv d("HSMCTL_STORE_PASSPHRASE_FD", nullptr);
  ScopedEnv k("HSMCTL_STORE_KEY_FILE", nullptr);
  auto options = UnlockOptions::from_environment();
  ASSERT_TRUE(options);
  ASSERT_TRUE(options->passphrase_file);
  ConfiguredKeySource source(*options);
  EXPECT_EQ(source.preferred_mode(), KeyMode::kPassphrase);
  auto first = source.material(KeyMode::kPassphrase, false);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->view(), kPassphrase);
  ASSERT_EQ(unlink(file.c_str()), 0);
  auto cached = source.material(KeyMode::kPassphrase, false);
  ASSERT_TRUE(cached) << "read once, then cached";
  ScopedEnv bad("HSMCTL_STORE_PASSPHRASE_FD", "x3");
  EXPECT_FALSE(UnlockOptions::from_environment());
}

TEST(StoreUnlock, KeyFileCreatedOnceWithPrivateMode) {
  TempDir dir;
  const std::string key = dir.file("cfg/hsmctl/store.key");
  auto created = create_key_file(key);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->size(), 32u);
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.file("cfg/hsmctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(create_key_file(key)) << "never overwrites an existing key";
  auto read = read_key_file(key);
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->equals(*created));
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  EXPECT_FALSE(read_key_file(key));
}

// A process killed while writing the key (here by SIGXFSZ: RLIMIT_FSIZE 0 lets the file be
// created but not written) must not leave a 0-byte key file behind: every later run would fail
// until a human deleted it.
TEST(StoreUnlock, KilledWhileCreatingTheKeyFileLeavesNoPartialKey) {
  TempDir dir;
  const std::string key = dir.file("store.key");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_DFL);
    struct rlimit none {
      0, 0
    };
    setrlimit(RLIMIT_FSIZE, &none);
    (void)create_key_file(key);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ) << "status " << status;
  struct stat st {};
  EXPECT_NE(lstat(key.c_str(), &st), 0) << "a key file of " << st.st_size << " bytes was left";
  auto created = create_key_file(key);
  ASSERT_TRUE(created) << created.error().message;
  auto read = read_key_file(key);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_TRUE(read->equals(*created));
}

TEST(StoreUnlock, DefaultPaths) {
  {
    ScopedEnv s("HSMCTL_STORE", "/somewhere/custom.hsmctl");
    EXPECT_EQ(*default_store_path(), "/somewhere/custom.hsmctl");
  }
  ScopedEnv s("HSMCTL_STORE", nullptr);
  {
    ScopedEnv x("XDG_DATA_HOME", "/xdg/data");
    EXPECT_EQ(*default_store_path(), "/xdg/data/hsmctl/store.hsmctl");
  }
  {
    ScopedEnv x("XDG_DATA_HOME", nullptr);
    ScopedEnv h("HOME", "/home/op");
    EXPECT_EQ(*default_store_path(), "/home/op/.local/share/hsmctl/store.hsmctl");
    ScopedEnv c("XDG_CONFIG_HOME", nullptr);
    ScopedEnv k("HSMCTL_STORE_KEY_FILE", nullptr);
    EXPECT_EQ(*default_key_file_path(), "/home/op/.config/hsmctl/store.key");
  }
}

TEST(StoreUnlock, DisableCoreDumps) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!disable_core_dumps())
      _exit(1);
    struct rlimit rl {};
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
      _exit(2);
    _exit(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace hsmctl::store
