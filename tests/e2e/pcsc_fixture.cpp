// SPDX-License-Identifier: Apache-2.0
#include "pcsc_fixture.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace hsmctl::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string& text, int lines) {
  std::size_t pos = text.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

/// One directory per test process (see PcscSandbox).
const std::string& process_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hsmctl-e2e.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return std::string();
    }
    return tmpl;
  }();
  return dir;
}

pid_t read_pid(const std::string& path) {
  const std::string text = read_text(path);
  return text.empty() ? -1 : static_cast<pid_t>(std::atol(text.c_str()));
}

/// Gone = no such process, or a zombie (reparented processes may never be reaped in containers).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return true;
  }
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

std::string hsmctl_bin() {
  return HSMCTL_BIN;
}
std::string vcard_bin() {
  return HSMCTL_VCARD_BIN;
}
std::string sandbox_script() {
  return std::string(HSMCTL_SOURCE_DIR) + "/scripts/pcscd-sandbox";
}

std::string CommandResult::diagnostics() const {
  return fmt::format("command: {}\nexit: {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}", command,
                     exit_code, timed_out ? " (timed out, killed)" : "", out, err);
}

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env, const std::string& input,
                          int timeout_s) {
  CommandResult result;
  for (const auto& a : argv) {
    result.command += (result.command.empty() ? "" : " ") + a;
  }
  int in_pipe[2];
  int out_pipe[2];
  int err_pipe[2];
  if (argv.empty() || ::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = "cannot create pipes";
    return result;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (const auto& [key, value] : env) {
      if (value.empty()) {
        ::unsetenv(key.c_str());
      } else {
        ::setenv(key.c_str(), value.c_str(), 1);
      }
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.err = "fork failed";
    return result;
  }
  // Small inputs only (PIN prompts): fits the pipe buffer, so writing first cannot deadlock.
  if (!input.empty()) {
    [[maybe_unused]] const ssize_t w = ::write(in_pipe[1], input.data(), input.size());
  }
  ::close(in_pipe[1]);

  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int r = ::poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(n));
        } else {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_count;
        }
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) {
      ::close(fd.fd);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

// ---- PcscSandbox ----------------------------------------------------------------------------

Result<std::unique_ptr<PcscSandbox>> PcscSandbox::start(const SandboxOptions& options) {
  if (process_dir().empty()) {
    return make_error(Errc::kIo, "cannot create a temporary directory for the sandbox");
  }
  std::unique_ptr<PcscSandbox> sb(new PcscSandbox());
  sb->options_ = options;
  HSMCTL_TRY(sb->launch());
  return sb;
}

Result<void> PcscSandbox::launch() {
  const std::string& dir = process_dir();
  std::vector<std::string> argv = {sandbox_script(), "start", "--dir", dir, "--vcard", vcard_bin()};
  const bool state_exists =
      !options_.state_file.empty() && std::filesystem::exists(options_.state_file);
  if (!options_.state_file.empty()) {
    argv.insert(argv.end(), {"--state", options_.state_file});
  }
  if (!options_.serial.empty() && (options_.state_file.empty() || !state_exists)) {
    argv.insert(argv.end(), {"--serial", options_.serial});
  }
  if (!options_.second_serial.empty()) {
    argv.insert(argv.end(), {"--second-serial", options_.second_serial});
  }
  // The script talks to pcscd itself; make sure no outer PCSCLITE_CSOCK_NAME confuses it.
  const CommandResult r = run_command(argv, {{"PCSCLITE_CSOCK_NAME", ""}}, "", 90);
  if (r.exit_code != 0) {
    return make_error(Errc::kUnavailable,
                      fmt::format("could not start the pcscd sandbox (pcscd, vsmartcard-vpcd, "
                                  "systemd-socket-activate and opensc must be installed; this "
                                  "test never skips):\n{}",
                                  r.diagnostics()));
  }
  dir_ = dir;
  port_ = std::atoi(read_text(dir + "/vcard.port").c_str());
  pcscd_pid_ = read_pid(dir + "/pcscd.pid");
  vcard_pid_ = read_pid(dir + "/vcard.pid");
  ::setenv("PCSCLITE_CSOCK_NAME", socket_path().c_str(), 1);
  return {};
}

PcscSandbox::~PcscSandbox() {
  stop();
}

void PcscSandbox::stop() {
  if (dir_.empty()) {
    return;
  }
  run_command({sandbox_script(), "stop", "--dir", dir_}, {}, "", 60);
  dir_.clear();
  pcscd_pid_ = -1;
  vcard_pid_ = -1;
}

Result<void> PcscSandbox::restart() {
  stop();
  return launch();
}

Result<void> PcscSandbox::kill_card() {
  if (vcard_pid_ <= 0 || process_gone(vcard_pid_)) {
    return make_error(Errc::kInternal, "hsmctl-vcard is not running");
  }
  ::kill(vcard_pid_, SIGKILL);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!process_gone(vcard_pid_)) {
    if (Clock::now() > deadline) {
      return make_error(Errc::kInternal, "hsmctl-vcard survived SIGKILL for 10 s");
    }
    sleep_ms(20);
  }
  return {};
}

Result<void> PcscSandbox::wait_for_card(bool present, int timeout_s) const {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::string last;
  for (;;) {
    auto readers = device::pcsc::list_readers();
    if (readers) {
      for (const auto& r : *readers) {
        if (r.name == kReader0) {
          if (r.card_present == present) {
            return {};
          }
          last = r.card_present ? "card present" : "no card";
        }
      }
    } else {
      last = readers.error().message;
    }
    if (Clock::now() > deadline) {
      return make_error(
          Errc::kUnavailable,
          fmt::format("reader '{}' did not report {} within {} s (last: {})\n{}", kReader0,
                      present ? "a card" : "no card", timeout_s, last, logs()));
    }
    sleep_ms(100);
  }
}

std::string PcscSandbox::logs() const {
  return fmt::format("--- pcscd.log (tail) ---\n{}\n--- vcard.log (tail) ---\n{}",
                     tail(read_text(dir_ + "/pcscd.log"), 20),
                     tail(read_text(dir_ + "/vcard.log"), 20));
}

// ---- PcscE2eTest ----------------------------------------------------------------------------

std::unique_ptr<PcscSandbox> PcscE2eTest::sandbox_;
std::string PcscE2eTest::start_error_;

void PcscE2eTest::start_suite(const SandboxOptions& options) {
  sandbox_.reset();  // at most one sandbox per process
  start_error_.clear();
  auto started = PcscSandbox::start(options);
  if (started) {
    sandbox_ = std::move(*started);
  } else {
    start_error_ = started.error().message;
  }
}

void PcscE2eTest::TearDownTestSuite() {
  sandbox_.reset();
}

void PcscE2eTest::SetUp() {
  if (!sandbox_) {
    GTEST_FAIL() << start_error_;
  }
}

CommandResult PcscE2eTest::run_hsmctl(const std::vector<std::string>& args,
                                      const std::map<std::string, std::string>& env,
                                      const std::string& input) {
  std::vector<std::string> argv = {hsmctl_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> full_env = env;
  if (sandbox_ && full_env.count("PCSCLITE_CSOCK_NAME") == 0) {
    full_env["PCSCLITE_CSOCK_NAME"] = sandbox_->socket_path();
  }
  return run_command(argv, full_env, input);
}

}  // namespace hsmctl::e2e
