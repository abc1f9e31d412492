// SPDX-License-Identifier: Apache-2.0
// Issue 9 item 5 / issue 15 item 5: a `prompt` secret is asked on the controlling terminal
// (/dev/tty, here a pseudo-terminal), not on stdin; the prompt names the manifest and the field,
// asks twice, never echoes the value, and two different entries are refused.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <string>
#include <vector>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// hsmctl in a new session whose controlling terminal is a pty; stdin is /dev/null and
/// stdout/stderr go to files, so only /dev/tty can carry the prompt and the answer.
class PtyRun {
 public:
  /// With `stdio_on_terminal`, stdin and stdout are the terminal too (stderr still the file).
  PtyRun(const std::vector<std::string>& args, const std::vector<std::string>& env,
         const std::string& out_path, bool stdio_on_terminal = false) {
    master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0)
      return;
    std::string slave = ptsname(master_);
    pid_ = fork();
    if (pid_ == 0) {
      setsid();
      int tty = open(slave.c_str(), O_RDWR);  // the session leader's first tty: its ctty
      if (tty < 0)
        _exit(126);
      int null = open("/dev/null", O_RDONLY);
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(stdio_on_terminal ? tty : null, 0);
      dup2(stdio_on_terminal ? tty : out, 1);
      dup2(out, 2);
      // `tty` stays open: with no slave descriptor left, the master would read EIO.
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(HSMCTL_BIN));
      for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      std::vector<char*> envp;
      for (const auto& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      execve(HSMCTL_BIN, argv.data(), envp.data());
      _exit(127);
    }
  }
  ~PtyRun() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0)
      close(master_);
  }
  bool started() const { return pid_ > 0; }

  /// Reads the terminal until `text` has appeared (true) or `seconds` passed / it closed.
  bool wait_for(const std::string& text, int seconds = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (screen_.find(text, consumed_) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      char buf[512];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0)
        return false;  // EIO: the child closed the terminal
      screen_.append(buf, static_cast<std::size_t>(n));
    }
    consumed_ = screen_.find(text, consumed_) + text.size();
    return true;
  }
  void type(const std::string& text) {
    ssize_t n = write(master_, text.data(), text.size());
    (void)n;
  }
  /// Waits for the exit code (-1 after 60 s or on a signal); drains the terminal meanwhile.
  int wait_exit() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      pollfd p{master_, POLLIN, 0};
      char buf[512];
      ssize_t n = poll(&p, 1, 100) > 0 ? read(master_, buf, sizeof buf) : 0;
      if (n > 0) {
        screen_.append(buf, static_cast<std::size_t>(n));
      } else {
        usleep(20 * 1000);  // hung up (EIO) or nothing yet: do not spin
      }
    }
    return -1;
  }
  const std::string& screen() const { return screen_; }
  /// The terminal's echo setting now (the master reports the pty's termios).
  bool echo_on() const {
    termios t{};
    return tcgetattr(master_, &t) == 0 && (t.c_lflag & ECHO) != 0;
  }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string screen_;
  std::size_t consumed_ = 0;
};

class PromptTty : public CliTest {
 protected:
  std::vector<std::string> child_env() {
    std::vector<std::string> env = {
        "PATH=/usr/bin:/bin",
        "HOME=" + dir_.path(),
        "HSMCTL_STORE=" + dir_.file("store.hsmctl"),
        "HSMCTL_STORE_KEY_FILE=" + dir_.file("store.key"),
        "NO_COLOR=1",
        "SO_PIN=3537363231383830",
    };
    return env;
  }
  std::string prompted_manifest() {
    return manifest_file(
        "apiVersion: hsmctl.dev/v1alpha1\n"
        "kind: PicoHSM\n"
        "metadata:\n"
        "  name: hsm-a\n"
        "spec:\n"
        "  device: {serial: \"" +
        std::string(kSerial) +
        "\"}\n"
        "  userPin: {secret: prompt}\n"
        "  soPin: {secret: \"env:SO_PIN\"}\n");
  }
};

TEST_F(PromptTty, AsksOnTheTerminalTwiceNamingManifestAndFieldWithoutEcho) {
  std::string m = prompted_manifest();
  PtyRun run({"apply", "-f", m, "--device", device(), "--auto-approve"}, child_env(),
             dir_.file("out.txt"));
  ASSERT_TRUE(run.started());
  ASSERT_TRUE(run.wait_for("Enter spec.userPin of manifest \"hsm-a\" (" + m + ":"))
      << run.screen() << read_text(dir_.file("out.txt"));
  run.type("64821907\n");
  ASSERT_TRUE(run.wait_for("Repeat spec.userPin of manifest \"hsm-a\"")) << run.screen();
  run.type("64821907\n");
  EXPECT_EQ(run.wait_exit(), 0) << run.screen() << read_text(dir_.file("out.txt"));
  EXPECT_THAT(run.screen(), Not(HasSubstr("64821907")));  // echo was off
  std::string out = read_text(dir_.file("out.txt"));
  EXPECT_THAT(out, HasSubstr("Apply complete"));
  EXPECT_THAT(out, Not(HasSubstr("64821907")));

  // The device now holds the PIN typed: a plan with it from the environment is in sync.
  env_["USER_PIN"] = "64821907";
  auto plan = hsmctl(
      {"plan", "-f", manifest_file(pico_manifest()), "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
}

TEST_F(PromptTty, TwoDifferentEntriesAreRefusedAndTheDeviceIsUntouched) {
  std::string m = prompted_manifest();
  PtyRun run({"apply", "-f", m, "--device", device(), "--auto-approve"}, child_env(),
             dir_.file("out.txt"));
  ASSERT_TRUE(run.started());
  ASSERT_TRUE(run.wait_for("Enter spec.userPin")) << run.screen();
  run.type("64821907\n");
  ASSERT_TRUE(run.wait_for("Repeat spec.userPin")) << run.screen();
  run.type("64821908\n");
  EXPECT_EQ(run.wait_exit(), 1) << run.screen();
  std::string out = read_text(dir_.file("out.txt"));
  EXPECT_THAT(out, HasSubstr("differ"));
  EXPECT_THAT(out + run.screen(), Not(HasSubstr("6482190")));
  EXPECT_NE(access(dir_.file("pico.json").c_str(), F_OK), 0);  // the device was never opened
}

TEST_F(PromptTty, CtrlCAtThePromptRestoresTheTerminalAndStopsCleanly) {
  // docs/exit-codes.md "Interruption": prompts run before any device command, so a Ctrl-C there
  // is a clean stop (exit 130, not death by the signal) with echo back on.
  std::string m = prompted_manifest();
  PtyRun run({"apply", "-f", m, "--device", device(), "--auto-approve"}, child_env(),
             dir_.file("out.txt"));
  ASSERT_TRUE(run.started());
  ASSERT_TRUE(run.wait_for("Enter spec.userPin")) << run.screen();
  run.type("6482");
  run.type("\x03");  // the terminal's VINTR: SIGINT to hsmctl, the foreground process group
  EXPECT_EQ(run.wait_exit(), 130) << run.screen() << read_text(dir_.file("out.txt"));
  std::string out = read_text(dir_.file("out.txt"));
  EXPECT_THAT(out, HasSubstr("interrupted by SIGINT")) << out;
  EXPECT_THAT(out, HasSubstr("nothing was changed on any device")) << out;
  EXPECT_THAT(out, Not(HasSubstr("Apply complete"))) << out;
  EXPECT_THAT(out + run.screen(), Not(HasSubstr("6482")));
  EXPECT_TRUE(run.echo_on()) << "the terminal was left without echo";
  EXPECT_NE(access(dir_.file("pico.json").c_str(), F_OK), 0);  // the device was never opened
}

TEST_F(PromptTty, WithoutATerminalItIsAClearErrorNotARead) {
  // stdin is a pipe holding a value: it must not be taken as the PIN.
  std::string m = prompted_manifest();
  env_["SO_PIN"] = "3537363231383830";
  auto apply = hsmctl({"apply", "-f", m, "--device", device(), "--auto-approve"}, "64821907\n");
  EXPECT_EQ(apply.exit_code, 1) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("spec.userPin"));
  EXPECT_THAT(apply.err, HasSubstr("no terminal"));
}

// Issue 11: `dkek create --password-shares T/N` on a terminal shows each custodian's part on a
// screen of its own, cleared before the next, never on the error stream; the parts shown
// rebuild the password: `dkek kcv` with two of the three gives the KCV create printed.
TEST_F(PromptTty, PasswordSharesAreShownOneScreenEachAndRebuildThePassword) {
  const std::string share = dir_.file("custodian.pbe");
  // --test-iterations keeps the key derivation cheap (the real count: tests/e2e/dkek_e2e_test).
  PtyRun run({"dkek", "create", share, "--password-shares", "2/3", "--test-iterations", "2"},
             child_env(), dir_.file("out.txt"), /*stdio_on_terminal=*/true);
  ASSERT_TRUE(run.started());
  ASSERT_TRUE(run.wait_for("Press <enter> to continue", 60)) << run.screen();
  run.type("\n");
  std::vector<std::string> parts;
  for (int id = 1; id <= 3; ++id) {
    const std::string ask = "Press <enter> to display password share " + std::to_string(id) +
                            " of 3 (custodian " + std::to_string(id) + " only)";
    ASSERT_TRUE(run.wait_for(ask)) << run.screen();
    run.type("\n");
    ASSERT_TRUE(run.wait_for("As one line (a manifest's passwordShares part):")) << run.screen();
    ASSERT_TRUE(run.wait_for("Please note ALL values above")) << run.screen();
    // The line between the two: this custodian's part.
    const std::string& screen = run.screen();
    const auto from =
        screen.rfind("passwordShares part):") + std::string("passwordShares part):").size();
    const auto to = screen.rfind("Please note ALL values above");
    std::string part = screen.substr(from, to - from);
    part.erase(std::remove_if(part.begin(), part.end(),
                              [](char c) { return c == '\r' || c == '\n' || c == ' '; }),
               part.end());
    EXPECT_THAT(part,
                ::testing::MatchesRegex("[0-9A-Fa-f:]+/" + std::to_string(id) + "/[0-9A-Fa-f:]+"));
    parts.push_back(part);
    run.type("\n");
  }
  // Read the last line before reaping: after the exit, what it wrote may be gone unread.
  ASSERT_TRUE(run.wait_for("KCV of this share: ")) << run.screen();
  EXPECT_EQ(run.wait_exit(), 0) << run.screen() << read_text(dir_.file("out.txt"));
  // Every part was followed by a clear screen before the next custodian's prompt.
  for (int id = 2; id <= 3; ++id) {
    const auto ask = run.screen().find("display password share " + std::to_string(id));
    const auto shown = run.screen().find(parts[static_cast<std::size_t>(id - 2)]);
    ASSERT_NE(ask, std::string::npos);
    EXPECT_NE(run.screen().substr(shown, ask - shown).find("\033[2J"), std::string::npos);
  }
  std::smatch created;
  const std::string screen = run.screen();
  ASSERT_TRUE(std::regex_search(screen, created, std::regex("KCV of this share: ([0-9A-F]{16})")))
      << screen;
  const std::string err = read_text(dir_.file("out.txt"));
  for (const auto& part : parts)
    EXPECT_THAT(err, Not(HasSubstr(part)));

  env_["PART_A"] = parts[0];
  env_["PART_C"] = parts[2];
  auto kcv = hsmctl({"dkek", "kcv", share, "--password", "shares:env:PART_A,env:PART_C",
                     "--test-iterations", "2"});
  ASSERT_EQ(kcv.exit_code, 0) << kcv.all();
  EXPECT_THAT(kcv.out, HasSubstr(created[1].str()));
  for (const auto& part : parts)
    EXPECT_THAT(kcv.all(), Not(HasSubstr(part)));
}

}  // namespace
}  // namespace hsmctl::testing
