// SPDX-License-Identifier: Apache-2.0
#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hsmctl::testing {
namespace {

/// Makes `fd` the child's descriptor `target`, inheritable across exec.
void move_to(int fd, int target) {
  if (fd == target) {
    ::fcntl(fd, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
  } else {
    ::dup2(fd, target);
  }
}

void close_all(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0)
      ::close(fd);
  }
}

}  // namespace

std::string ProcessResult::diagnostics() const {
  std::string exit = std::to_string(exit_code);
  if (timed_out)
    exit += " (timed out, killed)";
  return "command: " + command + "\nexit: " + exit + "\n--- stdout ---\n" + out +
         "\n--- stderr ---\n" + err;
}

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env, const std::string& input,
                          int timeout_seconds) {
  ProcessResult r;
  for (const auto& a : argv)
    r.command += (r.command.empty() ? "" : " ") + a;
  // Close-on-exec everywhere: a concurrent child must not inherit another child's pipe ends.
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (argv.empty() || ::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    close_all({in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]});
    r.err = argv.empty() ? "run_process: empty argv" : "run_process: cannot create pipes";
    return r;
  }
  // Everything the child needs is built before fork (no allocation between fork and exec).
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    // A session of its own: no controlling terminal, so a program under test can never read
    // (or hang on) the terminal of whoever runs the tests; /dev/tty fails as it does in CI.
    ::setsid();
    move_to(in_pipe[0], 0);
    move_to(out_pipe[1], 1);
    move_to(err_pipe[1], 2);
    for (const auto& [key, value] : env) {
      if (value.empty()) {
        ::unsetenv(key.c_str());
      } else {
        ::setenv(key.c_str(), value.c_str(), 1);
      }
    }
    // Default dispositions, as from an interactive shell: a runner that ignores SIGINT or
    // SIGTERM (a background job) must not change what the program under test does with them.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execvp(args[0], args.data());  // PATH lookup when argv[0] has no '/'
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  close_all({in_pipe[0], out_pipe[1], err_pipe[1]});
  if (pid < 0) {
    close_all({in_pipe[1], out_pipe[0], err_pipe[0]});
    r.err = "run_process: fork failed";
    return r;
  }
  // Small inputs only (PINs, short documents): fits the pipe buffer, so writing first cannot
  // deadlock.
  if (!input.empty()) {
    [[maybe_unused]] const ssize_t written = ::write(in_pipe[1], input.data(), input.size());
  }
  ::close(in_pipe[1]);

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_count = 2;
  char buf[4096];
  while (open_count > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);  // by PID, never by name
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left)) <= 0)
      continue;  // EINTR or nothing yet
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  close_all({fds[0].fd, fds[1].fd});
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.term_signal = WTERMSIG(status);
    r.exit_code = 128 + r.term_signal;
  }
  return r;
}

}  // namespace hsmctl::testing
