// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/primus/ppin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>

extern char** environ;

namespace hsmctl::families::primus {

namespace {

const char kSetupPrompt[] = "Provide setup password for";
const char kPkcs11Prompt[] = "Provide PKCS11 password for";
const char kProxyPrompt[] = "Provide proxy password for";

/// A run of decimal digits matched by a regex as an int; nullopt when it does not fit (ppin's
/// output is not under our control: "slot-id 99999999999" must not throw out of a parser).
std::optional<int> to_int(const std::string& digits) {
  int v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size())
    return std::nullopt;
  return v;
}

std::string strip_cr(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r')
      out += c;
  }
  return out;
}

void redact(std::string& text, const Secret& value) {
  if (value.empty())
    return;
  const std::string v(value.view());
  std::size_t pos = 0;
  while ((pos = text.find(v, pos)) != std::string::npos) {
    text.replace(pos, v.size(), "(redacted)");
    pos += 10;
  }
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::vector<std::string> ppin_environment(const char* const* env) {
  // What ppin and the provider library may need: the vendor documents PRIMUS_HOME (for PATH and
  // LD_LIBRARY_PATH) and the SECUROSYS_* file overrides; hsmctl always passes -c and -s, so those
  // two are not passed (explicit paths decide). Everything else (env: secrets, store keys,
  // passphrases) stays in hsmctl.
  static const char* const kKeep[] = {
      "PATH", "HOME",    "LANG",   "LANGUAGE",        "TERM",       "TZ",
      "USER", "LOGNAME", "TMPDIR", "LD_LIBRARY_PATH", "PRIMUS_HOME"};
  std::vector<std::string> pass;
  for (const char* k : kKeep)
    pass.emplace_back(k);
  if (env != nullptr) {
    for (const char* const* e = env; *e != nullptr; ++e) {
      if (std::strncmp(*e, "HSMCTL_PPIN_PASS_ENV=", 21) != 0)
        continue;
      // Test-only: names of extra variables to pass (a double's control variables). Never a
      // secret's name; HSMCTL_* names are refused so the store key never reaches ppin.
      std::string list(*e + 21);
      for (char& c : list) {
        if (c == ',' || c == ':')
          c = ' ';
      }
      std::istringstream in(list);
      for (std::string name; in >> name;) {
        if (name.rfind("HSMCTL_", 0) != 0)
          pass.push_back(name);
      }
    }
  }
  std::vector<std::string> out;
  if (env == nullptr)
    return out;
  for (const char* const* e = env; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr)
      continue;
    const std::string name(*e, static_cast<std::size_t>(eq - *e));
    bool keep = name.rfind("LC_", 0) == 0;
    for (const auto& p : pass)
      keep = keep || p == name;
    if (keep)
      out.emplace_back(*e);
  }
  return out;
}

std::optional<bool> Listing::user_configured(const std::string& user) const {
  std::optional<bool> out;
  for (const auto& s : slots) {
    if (s.user != user)
      continue;
    out = out.value_or(true) && s.configured;
  }
  return out;
}

std::optional<bool> Listing::proxy_configured(const std::string& user) const {
  std::optional<bool> out;
  for (const auto& p : proxies) {
    if (p.user != user)
      continue;
    out = out.value_or(true) && p.configured;
  }
  return out;
}

Listing parse_listing(std::string_view output) {
  static const std::regex slot_re(
      R"(^\s*\[\s*(\d+)\s*\]\s*slot-id\s+(\d+)\s*:\s*user\s+'([^']*)'\s+permanent\s+secret\s*:\s*(Configured|MISSING)\s*$)");
  static const std::regex proxy_re(
      R"(^\s*\[\s*(\d+)\s*\]\s*service/proxy\s+user\s+'([^']*)'\s+permanent\s+secret\s*:\s*(Configured|MISSING)\s*$)");
  Listing out;
  std::size_t start = 0;
  const std::string text = strip_cr(std::string(output));
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    const std::string line = text.substr(start, end - start);
    std::smatch m;
    if (std::regex_match(line, m, slot_re)) {
      const auto index = to_int(m[1]);
      const auto slot_id = to_int(m[2]);
      if (index && slot_id) {
        out.slots.push_back(SlotStatus{*index, *slot_id, m[3], m[4] == "Configured"});
      }
    } else if (std::regex_match(line, m, proxy_re)) {
      if (const auto index = to_int(m[1])) {
        out.proxies.push_back(ProxyStatus{*index, m[2], m[3] == "Configured"});
      }
    }
    start = end + 1;
  }
  return out;
}

std::optional<std::uint32_t> find_error_code(std::string_view output) {
  static const std::regex code_re(R"(0[xX]([8Cc][0-9A-Fa-f]{7})\b)");
  const std::string text(output);
  std::smatch m;
  if (std::regex_search(text, m, code_re)) {
    return static_cast<std::uint32_t>(std::stoul(m[1].str(), nullptr, 16));
  }
  return std::nullopt;
}

std::string code_hex(std::uint32_t code) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08X", code);
  return hex;
}

const char* describe_code(std::uint32_t code) {
  switch (code) {
    case 0x80005001:
      return "no HSM/user configured";
    case 0x80005002:
      return "HSM/user configuration already exists";
    case 0x80005003:
      return "configuration file not found";
    case 0x80005004:
      return "secrets file not found";
    case 0x80005005:
      return "invalid configuration file";
    case 0x80005006:
      return "invalid secrets file";
    case 0x80005007:
      return "no write access to the secrets file";
    case 0x80005008:
      return "adding the permanent secret failed";
    case 0x80005009:
      return "invalid secrets-file element";
    case 0x80005010:
      return "updating the secrets file failed";
    case 0x80005011:
      return "removing the permanent secret failed";
    case 0x80005012:
      return "user not found in the Primus configuration file";
    case 0x80005013:
      return "unsupported secret type";
    case 0x80005015:
      return "network connection failed";
    case 0x80005017:
      return "login with the setup password failed";
    case 0x80005018:
      return "setup password expired";
    case 0x80005019:
      return "partition access disabled by HSM configuration";
    case 0x8000000B:
      return "wrong PKCS#11 password";
    case 0x8000000D:
      return "user not found on the HSM";
    case 0x80000018:
      return "too many connections";
    case 0x80000037:
      return "password expired";
    case 0x8000003B:
      return "connect timeout";
    case 0x80000069:
      return "partition disabled";
    default:
      return (code & 0xF0000000u) == 0xC0000000u ? "HSM system error" : "undocumented error";
  }
}

bool is_credential_failure(std::uint32_t code) {
  return code == kSetupLoginFailed || code == kSetupPasswordExpired || code == kWrongPkcs11Pin ||
         code == kPasswordExpired || code == kUserNotFound;
}

Error error_for_code(std::uint32_t code, const std::string& what) {
  Errc errc = Errc::kDevice;
  if (is_credential_failure(code)) {
    errc = Errc::kAuth;
  } else if (code == 0x80005015 || code == 0x8000003B || code == 0x80000018 || code == 0x80005003 ||
             code == 0x80005004) {
    errc = Errc::kUnavailable;
  } else if (code == 0x80005007) {
    errc = Errc::kIo;
  }
  return Error{errc,
               what + ": ppin reported " + code_hex(code) + " (" + describe_code(code) + ")",
               std::nullopt,
               {},
               VendorCode{code}};
}

Result<std::string> parse_version(std::string_view output) {
  static const std::regex re(R"(Primus HSM PKCS#11\s+([0-9][0-9A-Za-z.\-]*))");
  const std::string text(output);
  std::smatch m;
  if (!std::regex_search(text, m, re)) {
    return make_error(Errc::kDevice, "unrecognised ppin -v output");
  }
  return m[1].str();
}

TestResult parse_test(std::string_view output) {
  static const std::regex hsm_re(R"(^\s*(\S+): Connect to )");
  static const std::regex slot_re(R"(^\s*\S+\s*\(id=(\d+)\),\s*user=([^:]*):\s*(.*?)\s*$)");
  static const std::regex fail_re(R"(Number of failures:\s*(\d+))");
  TestResult out;
  const std::string text = strip_cr(std::string(output));
  std::string hsm;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    const std::string line = text.substr(start, end - start);
    std::smatch m;
    if (std::regex_search(line, m, hsm_re)) {
      hsm = m[1];
    } else if (std::regex_match(line, m, slot_re)) {
      if (const auto slot_id = to_int(m[1])) {
        out.lines.push_back(TestLine{hsm, *slot_id, m[2], m[3] == "OK", m[3]});
      }
    } else if (std::regex_search(line, m, fail_re)) {
      // A count too large for an int is still "some failures", never "none".
      out.failures = to_int(m[1]).value_or(std::numeric_limits<int>::max());
    }
    start = end + 1;
  }
  return out;
}

Result<RunOutput> Ppin::run(const std::vector<std::string>& args,
                            const std::vector<Answer>& answers) const {
  struct termios tio {};
  cfmakeraw(&tio);
  // Canonical with echo ON: ppin must turn echo off itself before an answer is typed (checked
  // with tcgetattr() on the master), so an answer is never echoed into the captured output and
  // never typed before a TCSAFLUSH that would discard it.
  tio.c_iflag = ICRNL;
  tio.c_oflag = OPOST | ONLCR;
  tio.c_lflag = ICANON | ISIG | ECHO;
  tio.c_cflag = CS8 | CREAD;
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  tio.c_cc[VEOF] = 4;
  tio.c_cc[VINTR] = 3;

  std::vector<std::string> argv_store;
  argv_store.push_back(program_);
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_store.size() + 1);
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // A minimal, explicit environment (see ppin_environment()); built before fork().
  std::vector<std::string> env_store = ppin_environment(environ);
  std::vector<char*> envp;
  envp.reserve(env_store.size() + 1);
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    return make_error(Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, &tio, nullptr);
  if (pid < 0) {
    ::close(exec_pipe[0]);
    ::close(exec_pipe[1]);
    return make_error(Errc::kIo, std::string("forkpty: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(exec_pipe[0]);
    // Every file ppin creates (the staged .secrets.cfg among them) is private from its first
    // byte, whatever ppin's own creation mode is.
    ::umask(077);
    ::execvpe(argv[0], argv.data(), envp.data());
    const int err = errno;
    (void)!::write(exec_pipe[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(exec_pipe[1]);
  int exec_errno = 0;
  const ssize_t got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  ::close(exec_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    ::close(master);
    ::waitpid(pid, nullptr, 0);
    return make_error(Errc::kUnavailable,
                      "cannot run " + program_ + ": " + std::strerror(exec_errno));
  }

  using Clock = std::chrono::steady_clock;
  std::string out;
  std::vector<bool> answered(answers.size(), false);
  std::size_t scan_from = 0;
  std::optional<std::size_t> pending;  // prompt seen, answer not typed yet (echo still on)
  Clock::time_point pending_since{};
  Clock::time_point last_output = Clock::now();
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds_);
  constexpr auto kQuiet = std::chrono::milliseconds(300);
  constexpr auto kEchoWait = std::chrono::seconds(10);
  std::string failure;
  auto echo_off = [&] {
    struct termios t {};
    return ::tcgetattr(master, &t) == 0 && (t.c_lflag & ECHO) == 0;
  };
  for (;;) {
    const auto now = Clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (left.count() <= 0) {
      failure = "ppin did not finish within " + std::to_string(timeout_seconds_) + " s";
      break;
    }
    struct pollfd pfd {
      master, POLLIN, 0
    };
    const int pr = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 50)));
    if (pr < 0 && errno != EINTR) {
      failure = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (pr > 0) {
      char buf[4096];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;  // EIO: the child closed the terminal
      out.append(buf, static_cast<std::size_t>(n));
      last_output = Clock::now();
    }
    // The next expected prompt that appeared since the last answer (each answered at most once).
    if (!pending) {
      for (std::size_t i = 0; i < answers.size(); ++i) {
        if (answered[i])
          continue;
        const std::size_t at = out.find(answers[i].prompt, scan_from);
        if (at == std::string::npos)
          continue;
        const std::size_t colon = out.find(':', at);
        if (colon == std::string::npos)
          continue;
        pending = i;
        pending_since = Clock::now();
        scan_from = colon + 1;
        break;
      }
    }
    if (pending) {
      if (echo_off()) {
        std::string line(answers[*pending].value->view());
        line += '\n';
        const bool ok = write_all(master, line);
        secure_wipe(line.data(), line.size());
        if (!ok) {
          failure = "cannot answer ppin's prompt";
          break;
        }
        answered[*pending] = true;
        pending.reset();
      } else if (Clock::now() - pending_since > kEchoWait) {
        failure =
            "ppin asked for a secret without turning echo off; hsmctl does not type a "
            "secret that would be echoed";
        break;
      }
      continue;
    }
    // Any other prompt (or a repeated one) is not answered, it fails at once: guessing or
    // repeating could burn an attempt. A prompt is an unterminated last line ending in ':' or
    // '?' (or any unterminated text while ppin has echo off), with no output for kQuiet.
    const std::size_t nl = out.rfind('\n');
    const std::size_t from = std::max(scan_from, nl == std::string::npos ? 0 : nl + 1);
    std::string tail = from < out.size() ? out.substr(from) : std::string();
    while (!tail.empty() && (tail.back() == ' ' || tail.back() == '\r' || tail.back() == '\t')) {
      tail.pop_back();
    }
    std::size_t lead = 0;
    while (lead < tail.size() && (tail[lead] == ' ' || tail[lead] == '\r'))
      ++lead;
    tail.erase(0, lead);
    if (!tail.empty() && Clock::now() - last_output > kQuiet &&
        (tail.back() == ':' || tail.back() == '?' || echo_off())) {
      for (const auto& a : answers)
        redact(tail, *a.value);
      failure = "ppin asked a question hsmctl has no answer for: \"" + tail + "\"";
      break;
    }
  }
  if (!failure.empty()) {
    ::kill(pid, SIGKILL);
  }
  ::close(master);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  RunOutput r;
  r.output = strip_cr(out);
  for (const auto& a : answers)
    redact(r.output, *a.value);
  r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.error_code = find_error_code(r.output);
  if (!failure.empty())
    return make_error(Errc::kDevice, failure);
  return r;
}

Result<std::string> Ppin::version() const {
  HSMCTL_TRY_ASSIGN(RunOutput r, run({"-v"}, {}));
  return parse_version(r.output);
}

Result<Listing> Ppin::list(const PpinPaths& paths) const {
  HSMCTL_TRY_ASSIGN(RunOutput r, run({"-c", paths.config, "-s", paths.secrets, "-l"}, {}));
  if (r.error_code)
    return tl::unexpected(error_for_code(*r.error_code, "ppin -l"));
  if (r.exit_status != 0) {
    return make_error(Errc::kDevice, "ppin -l exited with status " + std::to_string(r.exit_status));
  }
  return parse_listing(r.output);
}

Result<RunOutput> Ppin::credential_command(const char* op, const PpinPaths& paths,
                                           const std::string& user,
                                           const std::vector<Answer>& answers) const {
  HSMCTL_TRY_ASSIGN(RunOutput r,
                    run({"-c", paths.config, "-s", paths.secrets, op, "-e", user}, answers));
  if (r.error_code) {
    return tl::unexpected(
        error_for_code(*r.error_code, std::string("ppin ") + op + " for '" + user + "'"));
  }
  if (r.exit_status != 0) {
    return make_error(Errc::kDevice, std::string("ppin ") + op + " for '" + user +
                                         "' exited with status " + std::to_string(r.exit_status) +
                                         " without an error code");
  }
  return r;
}

Result<RunOutput> Ppin::add(const PpinPaths& paths, const std::string& user, const Secret& setup,
                            const Secret& pkcs11) const {
  return credential_command("-a", paths, user, {{kSetupPrompt, &setup}, {kPkcs11Prompt, &pkcs11}});
}

Result<RunOutput> Ppin::update(const PpinPaths& paths, const std::string& user, const Secret& setup,
                               const Secret& pkcs11) const {
  return credential_command("-u", paths, user, {{kSetupPrompt, &setup}, {kPkcs11Prompt, &pkcs11}});
}

Result<RunOutput> Ppin::remove(const PpinPaths& paths, const std::string& user) const {
  return credential_command("-r", paths, user, {});
}

Result<RunOutput> Ppin::set_proxy(const PpinPaths& paths, const std::string& proxy_user,
                                  const Secret& password) const {
  return credential_command("-p", paths, proxy_user, {{kProxyPrompt, &password}});
}

Result<RunOutput> Ppin::remove_proxy(const PpinPaths& paths, const std::string& proxy_user) const {
  return credential_command("-x", paths, proxy_user, {});
}

Result<TestResult> Ppin::test(const PpinPaths& paths, const std::string& user) const {
  HSMCTL_TRY_ASSIGN(RunOutput r,
                    run({"-c", paths.config, "-s", paths.secrets, "-t", "--user", user}, {}));
  TestResult t = parse_test(r.output);
  if (t.lines.empty() && r.error_code) {
    return tl::unexpected(error_for_code(*r.error_code, "ppin -t for '" + user + "'"));
  }
  return t;
}

}  // namespace hsmctl::families::primus
