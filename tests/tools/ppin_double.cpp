// SPDX-License-Identifier: Apache-2.0
// ppin-double: a stand-in for Securosys' `ppin` ("Primus Permanent PIN") for tests. It emulates
// the documented vendor tool only (option set, prompts, banner, status lines, error codes; see
// docs/primus.md "Test double"), backed by a JSON file that plays the HSM:
//
//   PPIN_DOUBLE_STATE  path of the JSON "HSM" state (required); every invocation's argv is
//                      appended to its "invocations" array
//   PPIN_DOUBLE_NOW    the clock, seconds since the epoch (default: state "now", else time())
//   SECUROSYS_PKCS11_CONF / SECUROSYS_SECRETS_CONF  default file paths, as the real provider
//
// State keys (all optional except users):
//   version          provider version printed by -v ("2.2.4")
//   exitCodes        "nonzeroOnError" (default) | "always0" (the real exit codes are unknown)
//   promptSource     "tty" (default: /dev/tty when it can be opened, else stdin) | "stdin"
//   lockout          {threshold: 100, window: 300, duration: 300}  (seconds)
//   hosts            {"<host>": "up" | "down" | "timeout"}   (default up)
//   users            {"<USER>": {setupPassword, issuedAt, firstUsedAt, lifespanHours,
//                     clockFrom: "FirstUse"|"Issuance", secret, pkcs11Pin}}
//   proxies          {"<PROXYUSER>": {password}}
//   counters         {api|pin: {failures: [t...], lockedUntil: t}}
//   faults           {crashAfterRemove: bool (-u dies after removing the entry),
//                     partialWrite: bool (the next secrets-file write stops half way)}
//   log              HSM user log lines (--fetchlog)
//
// Switches for behaviour the vendor does not document, so hsmctl is tested against both
// possibilities (see docs/primus.md "What hsmctl assumes about ppin"):
//   createMode        permission bits a NEW secrets file is created with, before the umask
//                     ("0666" default, like fopen(); the install guide's `chmod o-rwx` step
//                     implies ppin does not restrict them itself)
//   recordEnvironment true: append this process's /proc/self/environ to "environments"
//   promptOrder       "echoOffFirst" (default, like getpass()) | "promptThenEchoOff" (prints the
//                     prompt, then turns echo off with TCSAFLUSH, discarding early input)
//   extraPrompt       a prompt text -a/-u print (and read an answer for) before the documented ones
//   loginFailureText  "withCode" (default) | "noCode": a failed login prints no 0x8... code
//   crashAfterLogin   true: -a/-u die right after the login attempt was counted (once)
//   proxyRefusalCode  code -a/-u print when the service proxy refuses ("0x80005015" default;
//                     real ppin may print 0x80005017, indistinguishable from a wrong setup pw)
//   requireSecretsFile true: -a/-p refuse a missing secrets file with 0x80005004 (the install
//                     guide has users copy a template .secrets.cfg first)
// Every write of a secrets file appends {path, mode} to "secretsWrites", the mode read with
// fstat() right after open(), before any byte is written.
#include <libconfig.h++>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

struct Fail {
  unsigned code;
  std::string text;
};

const char* kBanner = "********************\nPrimus Permanent PIN\n********************\n";

json g_state;
std::string g_state_path;
long long g_now = 0;
int g_lock_fd = -1;

void save_state() {
  const std::string tmp = g_state_path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    o << g_state.dump(2);
  }
  std::rename(tmp.c_str(), g_state_path.c_str());
}

[[noreturn]] void finish(int rc) {
  save_state();
  std::fflush(stdout);
  std::exit(rc);
}

int error_exit_code() {
  return g_state.value("exitCodes", std::string("nonzeroOnError")) == "always0" ? 0 : 1;
}

[[noreturn]] void fail(unsigned code, const std::string& text) {
  std::printf("ERROR: %s (0x%08X)\n", text.c_str(), code);
  std::printf("%s", kBanner);
  finish(error_exit_code());
}

// A failure reported without any code (loginFailureText: "noCode").
[[noreturn]] void fail_without_code(const std::string& text) {
  std::printf("ERROR: %s\n", text.c_str());
  std::printf("%s", kBanner);
  finish(error_exit_code());
}

// ----- primus.cfg -----

struct Slot {
  std::string user;
  std::string proxy_user;
  int id = 0;
};
struct Hsm {
  std::string name;
  std::string host;
  std::string port;
  int priority = 0;
  std::vector<Slot> slots;
};

std::vector<Hsm> load_config(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0)
    fail(0x80005003, "configuration file not found");
  libconfig::Config cfg;
  try {
    cfg.readFile(path.c_str());
  } catch (const std::exception&) {
    fail(0x80005005, "invalid configuration file");
  }
  std::vector<Hsm> out;
  try {
    const libconfig::Setting& hsms = cfg.lookup("primus.hsms");
    for (int i = 0; i < hsms.getLength(); ++i) {
      const libconfig::Setting& h = hsms[i];
      Hsm hsm;
      hsm.name = h.getName();
      hsm.host = static_cast<const char*>(h["host"]);
      hsm.port = h.exists("port") ? static_cast<const char*>(h["port"]) : "2310";
      if (h.exists("priority"))
        hsm.priority = h["priority"];
      if (h.exists("slots")) {
        const libconfig::Setting& slots = h["slots"];
        for (int j = 0; j < slots.getLength(); ++j) {
          Slot s;
          s.user = static_cast<const char*>(slots[j]["user_name"]);
          s.id = slots[j]["id"];
          if (slots[j].exists("proxy_user")) {
            s.proxy_user = static_cast<const char*>(slots[j]["proxy_user"]);
          }
          hsm.slots.push_back(s);
        }
      }
      out.push_back(hsm);
    }
  } catch (const std::exception&) {
    fail(0x80005005, "invalid configuration file");
  }
  return out;
}

// ----- .secrets.cfg (opaque to clients; libconfig-shaped like the decoded vendor sample) -----

struct Secrets {
  std::map<std::string, std::string> users;    // name -> secret
  std::map<std::string, std::string> proxies;  // name -> password (hex)
};

std::string to_hex(const std::string& s) {
  static const char* h = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o += h[c >> 4];
    o += h[c & 15];
  }
  return o;
}

std::optional<Secrets> load_secrets(const std::string& path, bool must_exist) {
  if (access(path.c_str(), F_OK) != 0) {
    if (must_exist)
      fail(0x80005004, "secrets file not found");
    return std::nullopt;
  }
  Secrets s;
  libconfig::Config cfg;
  try {
    cfg.readFile(path.c_str());
    if (cfg.exists("primus.users")) {
      const libconfig::Setting& u = cfg.lookup("primus.users");
      for (int i = 0; i < u.getLength(); ++i) {
        s.users[static_cast<const char*>(u[i]["name"])] = static_cast<const char*>(u[i]["secret"]);
      }
    }
    if (cfg.exists("primus.proxies")) {
      const libconfig::Setting& p = cfg.lookup("primus.proxies");
      for (int i = 0; i < p.getLength(); ++i) {
        s.proxies[static_cast<const char*>(p[i]["name"])] =
            static_cast<const char*>(p[i]["password"]);
      }
    }
  } catch (const std::exception&) {
    fail(0x80005006, "invalid secrets file");
  }
  return s;
}

void check_writable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    // Mode bits first: tests run as root, for whom access(W_OK) is always true.
    if ((st.st_mode & 0200) == 0 || access(path.c_str(), W_OK) != 0) {
      fail(0x80005007, "no write access to secrets file");
    }
    return;
  }
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (dir.empty())
    dir = ".";
  if (access(dir.c_str(), W_OK) != 0)
    fail(0x80005007, "no write access to secrets file");
}

void write_secrets(const std::string& path, const Secrets& s) {
  std::ostringstream o;
  o << "version = \"1.0\";\nprimus:\n{\n  users:\n  {\n";
  int i = 0;
  for (const auto& [name, secret] : s.users) {
    o << "    user" << i++ << ": { name = \"" << name << "\"; secret = \"" << secret << "\"; };\n";
  }
  o << "  };\n  proxies:\n  {\n";
  i = 0;
  for (const auto& [name, pw] : s.proxies) {
    o << "    proxy" << i++ << ": { name = \"" << name << "\"; password = \"" << pw << "\"; };\n";
  }
  o << "  };\n};\n";
  std::string text = o.str();
  // In place, like a tool that does not write atomically.
  const mode_t create_mode =
      static_cast<mode_t>(std::stoul(g_state.value("createMode", std::string("0666")), nullptr, 8));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, create_mode);
  if (fd < 0)
    fail(0x80005010, "updating secrets file failed");
  {
    struct stat st {};
    fstat(fd, &st);
    g_state["secretsWrites"].push_back({{"path", path}, {"mode", st.st_mode & 07777}});
  }
  if (g_state["faults"].value("partialWrite", false)) {
    g_state["faults"]["partialWrite"] = false;
    (void)!write(fd, text.data(), text.size() / 2);
    close(fd);
    save_state();
    std::_Exit(139);  // as if killed mid-write
  }
  (void)!write(fd, text.data(), text.size());
  fsync(fd);
  close(fd);
}

// ----- the HSM side -----

json& counter(const char* which) {
  json& c = g_state["counters"][which];
  if (!c.contains("failures"))
    c["failures"] = json::array();
  if (!c.contains("lockedUntil"))
    c["lockedUntil"] = 0;
  return c;
}

bool locked(const char* which) {
  return g_now < counter(which)["lockedUntil"].get<long long>();
}

void count_failure(const char* which) {
  const json& lo = g_state["lockout"];
  const long long threshold = lo.value("threshold", 100);
  const long long window = lo.value("window", 300);
  const long long duration = lo.value("duration", 300);
  json& c = counter(which);
  json kept = json::array();
  for (const auto& t : c["failures"]) {
    if (t.get<long long>() > g_now - window)
      kept.push_back(t);
  }
  kept.push_back(g_now);
  if (static_cast<long long>(kept.size()) >= threshold) {
    c["lockedUntil"] = g_now + duration;
    kept = json::array();
  }
  c["failures"] = kept;
}

void hsm_log(const std::string& line) {
  g_state["log"].push_back(line);
}

std::string host_state(const std::string& host) {
  if (g_state.contains("hosts") && g_state["hosts"].contains(host)) {
    return g_state["hosts"][host].get<std::string>();
  }
  return "up";
}

// Picks a reachable member for `user` by priority pool; fails like the provider when none is.
const Hsm& connect(const std::vector<Hsm>& hsms, const std::string& user) {
  std::vector<const Hsm*> candidates;
  for (const auto& h : hsms) {
    for (const auto& s : h.slots) {
      if (s.user == user) {
        candidates.push_back(&h);
        break;
      }
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Hsm* a, const Hsm* b) { return a->priority < b->priority; });
  bool timeout = false;
  for (const Hsm* h : candidates) {
    const std::string st = host_state(h->host);
    if (st == "up")
      return *h;
    if (st == "timeout")
      timeout = true;
  }
  if (timeout)
    fail(0x8000003B, "connect timeout");
  fail(0x80005015, "network connection failed");
}

std::string proxy_of(const std::vector<Hsm>& hsms, const std::string& user) {
  for (const auto& h : hsms) {
    for (const auto& s : h.slots) {
      if (s.user == user && !s.proxy_user.empty())
        return s.proxy_user;
    }
  }
  return {};
}

bool setup_expired(const json& u) {
  const long long hours = u.value("lifespanHours", 72);
  const bool used = u.contains("firstUsedAt") && !u["firstUsedAt"].is_null();
  if (u.value("clockFrom", std::string("FirstUse")) == "Issuance") {
    return g_now > u.value("issuedAt", 0LL) + hours * 3600;
  }
  if (!used)
    return false;
  if (hours == 0)
    return true;  // one-time password
  return g_now > u["firstUsedAt"].get<long long>() + hours * 3600;
}

// ----- prompts -----

std::string read_secret(const std::string& prompt) {
  const bool use_tty = g_state.value("promptSource", std::string("tty")) != "stdin";
  int fd = use_tty ? open("/dev/tty", O_RDWR | O_NOCTTY) : -1;
  const int in = fd >= 0 ? fd : STDIN_FILENO;
  const int out = fd >= 0 ? fd : STDOUT_FILENO;
  std::fflush(stdout);
  // Like glibc getpass(): echo off (flushing stale input) first, then the prompt.
  struct termios old {};
  const bool is_tty = tcgetattr(in, &old) == 0;
  const bool prompt_first = g_state.value("promptOrder", std::string()) == "promptThenEchoOff";
  if (prompt_first) {
    (void)!write(out, prompt.data(), prompt.size());
    usleep(300 * 1000);  // a slow tool: whatever was typed meanwhile is discarded below
  }
  if (is_tty) {
    struct termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(in, TCSAFLUSH, &t);
  }
  if (!prompt_first)
    (void)!write(out, prompt.data(), prompt.size());
  std::string value;
  char c = 0;
  bool got_newline = false;
  while (read(in, &c, 1) == 1) {
    if (c == '\n' || c == '\r') {
      got_newline = true;
      break;
    }
    value += c;
  }
  if (is_tty)
    tcsetattr(in, TCSANOW, &old);
  (void)!write(out, "\n", 1);
  if (fd >= 0)
    close(fd);
  if (!got_newline && value.empty())
    fail(0x80005008, "no input");
  return value;
}

// ----- output -----

bool wide() {
  return g_state.value("padding", std::string("single")) == "wide";
}

void print_listing(const std::vector<Hsm>& hsms, const std::optional<Secrets>& s) {
  int n = 0;
  for (const auto& h : hsms) {
    for (const auto& sl : h.slots) {
      const bool ok = s && s->users.count(sl.user) > 0;
      std::printf(wide() ? "[%02d]  slot-id %d:   user '%s'   permanent secret:   %s\n"
                         : "[%02d] slot-id %d: user '%s' permanent secret: %s\n",
                  n++, sl.id, sl.user.c_str(), ok ? "Configured" : "MISSING");
    }
  }
  n = 0;
  for (const auto& h : hsms) {
    for (const auto& sl : h.slots) {
      if (sl.proxy_user.empty())
        continue;
      const bool ok = s && s->proxies.count(sl.proxy_user) > 0;
      std::printf(wide() ? "[%02d]  service/proxy user '%s'   permanent secret:  %s\n"
                         : "[%02d] service/proxy user '%s' permanent secret: %s\n",
                  n++, sl.proxy_user.c_str(), ok ? "Configured" : "MISSING");
    }
  }
}

void usage() {
  std::printf(
      "Usage: ppin [-c <primus.cfg>] [-s <.secrets.cfg>] <command>\n"
      "  -h                      this help\n"
      "  -v                      print the provider version\n"
      "  -l                      list all Primus HSM hosts\n"
      "  -a -e <user> [<setup password> <PKCS11 password>]   add permanent secret\n"
      "  -u -e <user> [<setup password> <PKCS11 password>]   update permanent secret\n"
      "  -r -e <user>            remove permanent secret\n"
      "  -p -e <user> [<proxy password>]   add proxy password of a service (proxy) user\n"
      "  -x -e <user>            remove proxy password\n"
      "  --fetchlog --user <U> --hsm <H> [--reverse] [--since YYYY-MM-DD] [--out <file>]\n"
      "  -t|--test [--user <U>] [--hsm <H>] [--slot <S>] [--slotid <N>]\n"
      "  --fortinet --user <U> [<setup pwd> [<pkcs11 pwd>]] [--proxyuser <P> [--proxypwd <X>]]\n");
}

struct Args {
  std::set<char> flags;
  std::string config, secrets, user;
  std::vector<std::string> positional;
  std::map<std::string, std::string> longs;
  std::set<std::string> long_flags;
};

Args parse_args(int argc, char** argv) {
  Args a;
  const std::set<std::string> long_with_value = {"--user",      "--hsm",      "--slot",
                                                 "--slotid",    "--since",    "--out",
                                                 "--proxyuser", "--proxypwd", "--proxypassword"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      if (long_with_value.count(arg)) {
        if (i + 1 >= argc) {
          usage();
          finish(1);
        }
        a.longs[arg] = argv[++i];
      } else if (arg == "--test") {
        a.flags.insert('t');
      } else if (arg == "--fetchlog" || arg == "--fortinet" || arg == "--reverse") {
        a.long_flags.insert(arg);
      } else {
        std::printf("ppin: unknown option '%s'\n", arg.c_str());
        usage();
        finish(1);
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      for (std::size_t k = 1; k < arg.size(); ++k) {
        const char f = arg[k];
        if (f == 'c' || f == 's' || f == 'e') {
          std::string v = arg.substr(k + 1);
          if (v.empty()) {
            if (i + 1 >= argc) {
              usage();
              finish(1);
            }
            v = argv[++i];
          }
          (f == 'c' ? a.config : f == 's' ? a.secrets : a.user) = v;
          break;
        }
        if (std::string("hvlaurpxt").find(f) == std::string::npos) {
          std::printf("ppin: unknown option '-%c'\n", f);
          usage();
          finish(1);
        }
        a.flags.insert(f);
      }
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

std::string default_path(const char* env, const char* fallback) {
  const char* v = std::getenv(env);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Logs in with the setup password (and checks the PKCS#11 password) as -a/-u/--fortinet do.
// On failure `on_fail` runs first (the -u entry removal), then the documented code is printed.
template <class OnFail>
void login_with_setup(const std::vector<Hsm>& hsms, const std::string& user,
                      const std::string& setup, const std::string& pin,
                      const std::optional<Secrets>& secrets, OnFail on_fail) {
  auto die = [&](unsigned code, const std::string& text) {
    on_fail();
    fail(code, text);
  };
  const std::string proxy = proxy_of(hsms, user);
  if (!proxy.empty()) {
    const bool have = secrets && secrets->proxies.count(proxy) > 0;
    const bool right = have && g_state["proxies"].contains(proxy) &&
                       secrets->proxies.at(proxy) ==
                           to_hex(g_state["proxies"][proxy].value("password", std::string()));
    if (!right) {
      const unsigned code = static_cast<unsigned>(
          std::stoul(g_state.value("proxyRefusalCode", std::string("0x80005015")), nullptr, 16));
      die(code, code == 0x80005017 ? "login with setup password failed"
                                   : "network connection failed (service proxy refused)");
    }
  }
  bool any_up = false;
  bool timeout = false;
  for (const auto& h : hsms) {
    for (const auto& s : h.slots) {
      if (s.user != user)
        continue;
      const std::string st = host_state(h.host);
      any_up = any_up || st == "up";
      timeout = timeout || st == "timeout";
    }
  }
  if (!any_up) {
    if (timeout)
      die(0x8000003B, "connect timeout");
    die(0x80005015, "network connection failed");
  }
  if (!g_state["users"].contains(user))
    die(0x8000000D, "user not found");
  json& u = g_state["users"][user];
  hsm_log("Login request: user " + user + " with setup password");
  if (locked("api"))
    die(0x80005017, "login with setup password failed");
  const bool crash = g_state["faults"].value("crashAfterLogin", false);
  if (crash)
    g_state["faults"]["crashAfterLogin"] = false;
  if (setup != u.value("setupPassword", std::string())) {
    count_failure("api");
    if (crash) {
      save_state();
      std::_Exit(134);
    }
    if (g_state.value("loginFailureText", std::string()) == "noCode") {
      on_fail();
      fail_without_code("login failed");
    }
    die(0x80005017, "login with setup password failed");
  }
  if (crash) {
    save_state();
    std::_Exit(134);
  }
  if (setup_expired(u))
    die(0x80005018, "setup password expired");
  if (!u.contains("firstUsedAt") || u["firstUsedAt"].is_null())
    u["firstUsedAt"] = g_now;
  if (u.contains("pkcs11Pin")) {
    if (locked("pin"))
      die(0x8000000B, "wrong PKCS#11 password");
    if (pin != u["pkcs11Pin"].get<std::string>()) {
      count_failure("pin");
      die(0x8000000B, "wrong PKCS#11 password");
    }
  }
  hsm_log("Retrieved permanent login credentials for " + user);
}

}  // namespace

int main(int argc, char** argv) {
  const char* sp = std::getenv("PPIN_DOUBLE_STATE");
  if (sp == nullptr || *sp == '\0') {
    std::fprintf(stderr, "ppin-double: PPIN_DOUBLE_STATE is not set\n");
    return 2;
  }
  g_state_path = sp;
  g_lock_fd = open((g_state_path + ".lock").c_str(), O_RDWR | O_CREAT, 0600);
  if (g_lock_fd >= 0)
    flock(g_lock_fd, LOCK_EX);
  {
    std::ifstream in(g_state_path);
    if (in) {
      try {
        in >> g_state;
      } catch (const std::exception&) {
        std::fprintf(stderr, "ppin-double: state file is not JSON\n");
        return 2;
      }
    }
  }
  if (!g_state.is_object())
    g_state = json::object();
  if (!g_state.contains("users"))
    g_state["users"] = json::object();
  if (!g_state.contains("log"))
    g_state["log"] = json::array();
  if (!g_state.contains("faults"))
    g_state["faults"] = json::object();
  if (!g_state.contains("lockout"))
    g_state["lockout"] = json::object();
  const char* now = std::getenv("PPIN_DOUBLE_NOW");
  g_now = now != nullptr ? std::atoll(now)
                         : g_state.value("now", static_cast<long long>(std::time(nullptr)));
  if (g_state.value("recordEnvironment", false)) {
    std::ifstream env("/proc/self/environ", std::ios::binary);
    json vars = json::array();
    for (std::string entry; std::getline(env, entry, '\0');)
      vars.push_back(entry);
    g_state["environments"].push_back(vars);
  }
  {
    json inv = json::array();
    for (int i = 0; i < argc; ++i)
      inv.push_back(argv[i]);
    g_state["invocations"].push_back({{"argv", inv}, {"at", g_now}});
  }

  Args a = parse_args(argc, argv);
  const std::string cfg_path =
      a.config.empty() ? default_path("SECUROSYS_PKCS11_CONF", "/etc/primus/primus.cfg") : a.config;
  const std::string sec_path =
      a.secrets.empty() ? default_path("SECUROSYS_SECRETS_CONF", "/etc/primus/.secrets.cfg")
                        : a.secrets;

  if (a.flags.count('h') || argc == 1) {
    usage();
    finish(0);
  }
  if (a.flags.count('v')) {
    std::printf("Primus HSM PKCS#11 %s\n", g_state.value("version", std::string("2.2.4")).c_str());
    finish(0);
  }
  if (a.flags.count('l')) {
    std::printf("%s", kBanner);
    const auto hsms = load_config(cfg_path);
    const auto secrets = load_secrets(sec_path, true);
    print_listing(hsms, secrets);
    std::printf("%s", kBanner);
    finish(0);
  }
  if (a.flags.count('t')) {
    std::printf("Load config file: '%s'\n\n", cfg_path.c_str());
    const auto hsms = load_config(cfg_path);
    const auto secrets = load_secrets(sec_path, true);
    const std::string only_user = a.longs.count("--user") ? a.longs["--user"] : "";
    const std::string only_hsm = a.longs.count("--hsm") ? a.longs["--hsm"] : "";
    int tested = 0, partitions = 0, failures = 0;
    for (const auto& h : hsms) {
      if (!only_hsm.empty() && only_hsm != h.name && only_hsm != h.host)
        continue;
      ++tested;
      const std::string st = host_state(h.host);
      if (st == "up") {
        std::printf("%s: Connect to '%s' on port %s, firmware: RP-2.11.2-T\n", h.name.c_str(),
                    h.host.c_str(), h.port.c_str());
      } else {
        std::printf("%s: Connect to '%s' on port %s, failed\n", h.name.c_str(), h.host.c_str(),
                    h.port.c_str());
      }
      for (std::size_t j = 0; j < h.slots.size(); ++j) {
        const Slot& s = h.slots[j];
        if (!only_user.empty() && s.user != only_user)
          continue;
        ++partitions;
        std::string result = "OK";
        if (st != "up") {
          result = "CKR_TOKEN_NOT_PRESENT";
        } else if (!s.proxy_user.empty() && !(secrets && secrets->proxies.count(s.proxy_user) &&
                                              g_state["proxies"].contains(s.proxy_user) &&
                                              secrets->proxies.at(s.proxy_user) ==
                                                  to_hex(g_state["proxies"][s.proxy_user].value(
                                                      "password", std::string())))) {
          result = "0x80005015";
        } else if (!secrets || !secrets->users.count(s.user)) {
          result = "0x80005001";
        } else if (!g_state["users"].contains(s.user)) {
          result = "0x8000000D";
        } else if (locked("api")) {
          result = "0x80005017";
        } else if (secrets->users.at(s.user) !=
                   g_state["users"][s.user].value("secret", std::string())) {
          count_failure("api");
          result = "0x80005017";
        } else {
          hsm_log("Login successful: user " + s.user);
        }
        if (result != "OK")
          ++failures;
        std::printf("    slot%zu (id=%d), user=%s: %s\n", j, s.id, s.user.c_str(), result.c_str());
      }
    }
    std::printf("Number of tested HSMs: %d (number of partitions: %d)\n", tested, partitions);
    std::printf("Number of failures: %d\n", failures);
    finish(failures == 0 ? 0 : error_exit_code());
  }
  if (a.long_flags.count("--fetchlog")) {
    const std::string user = a.longs["--user"];
    std::printf("Dump log starting from %s\n",
                a.longs.count("--since") ? a.longs["--since"].c_str() : "the beginning");
    std::printf("Fetching log from HSM.\n");
    const auto hsms = load_config(cfg_path);
    connect(hsms, user);
    int slots = 0;
    for (const auto& h : hsms)
      slots += static_cast<int>(h.slots.size());
    std::printf("Number of slots: %d\n", slots);
    for (const auto& line : g_state["log"]) {
      const std::string l = line.get<std::string>();
      if (l.find(user) != std::string::npos)
        std::printf("<14> primus: %s\n", l.c_str());
    }
    finish(0);
  }
  if (a.long_flags.count("--fortinet")) {
    const std::string user = a.longs["--user"];
    const auto hsms = load_config(cfg_path);
    std::string setup = a.positional.size() > 0
                            ? a.positional[0]
                            : read_secret("Provide setup password for '" + user + "': ");
    std::string pin = a.positional.size() > 1
                          ? a.positional[1]
                          : read_secret("Provide PKCS11 password for '" + user + "': ");
    Secrets s;
    if (a.longs.count("--proxyuser")) {
      const std::string pu = a.longs["--proxyuser"];
      std::string pw = a.longs.count("--proxypwd") ? a.longs["--proxypwd"]
                       : a.longs.count("--proxypassword")
                           ? a.longs["--proxypassword"]
                           : read_secret("Provide proxy password for '" + pu + "' : ");
      s.proxies[pu] = to_hex(pw);
    }
    login_with_setup(hsms, user, setup, pin, s, [] {});
    s.users[user] = g_state["users"][user].value("secret", std::string());
    std::printf("# Fortinet secret to be loaded:\n%s\n",
                to_hex(user + ":" + s.users[user]).c_str());
    finish(0);
  }

  const bool add = a.flags.count('a') > 0, update = a.flags.count('u') > 0;
  const bool remove = a.flags.count('r') > 0, proxy = a.flags.count('p') > 0;
  const bool proxy_remove = a.flags.count('x') > 0;
  if (add + update + remove + proxy + proxy_remove != 1 || a.user.empty()) {
    usage();
    finish(1);
  }
  std::printf("%s", kBanner);
  const auto hsms = load_config(cfg_path);
  const std::string& user = a.user;

  if (proxy || proxy_remove) {
    bool known = false;
    for (const auto& h : hsms) {
      for (const auto& s : h.slots)
        known = known || s.proxy_user == user;
    }
    if (!known)
      fail(0x80005012, "user not found in Primus configuration file");
    auto secrets =
        load_secrets(sec_path, proxy_remove || g_state.value("requireSecretsFile", false));
    if (proxy_remove) {
      if (!secrets->proxies.count(user))
        fail(0x80005011, "removing permanent secret failed");
      check_writable(sec_path);
      secrets->proxies.erase(user);
      write_secrets(sec_path, *secrets);
    } else {
      check_writable(sec_path);
      const std::string pw = a.positional.size() > 0
                                 ? a.positional[0]
                                 : read_secret("Provide proxy password for '" + user + "' : ");
      // "validate and add": the proxy must be reachable and accept the password.
      bool any_up = false;
      for (const auto& h : hsms) {
        for (const auto& s : h.slots)
          any_up = any_up || (s.proxy_user == user && host_state(h.host) == "up");
      }
      if (!any_up)
        fail(0x80005015, "network connection failed");
      if (!g_state.contains("proxies") || !g_state["proxies"].contains(user) ||
          g_state["proxies"][user].value("password", std::string()) != pw) {
        count_failure("api");
        fail(0x80005017, "login with proxy password failed");
      }
      if (!secrets)
        secrets = Secrets{};
      secrets->proxies[user] = to_hex(pw);
      write_secrets(sec_path, *secrets);
    }
    std::printf("\n");
    print_listing(hsms, secrets);
    std::printf("%s", kBanner);
    finish(0);
  }

  bool in_config = false;
  for (const auto& h : hsms) {
    for (const auto& s : h.slots)
      in_config = in_config || s.user == user;
  }
  if (!in_config)
    fail(0x80005012, "user not found in Primus configuration file");
  auto secrets = load_secrets(sec_path, remove || update);

  if (remove) {
    if (!secrets->users.count(user))
      fail(0x80005011, "removing permanent secret failed");
    check_writable(sec_path);
    secrets->users.erase(user);
    write_secrets(sec_path, *secrets);
    print_listing(hsms, secrets);
    std::printf("%s", kBanner);
    finish(0);
  }

  if (add && secrets && secrets->users.count(user)) {
    fail(0x80005002, "HSM/user configuration already exists");
  }
  if (update && !secrets->users.count(user))
    fail(0x80005001, "no HSM/user configured");
  if (!secrets && g_state.value("requireSecretsFile", false)) {
    fail(0x80005004, "secrets file not found");
  }
  check_writable(sec_path);
  if (g_state.contains("extraPrompt"))
    (void)read_secret(g_state["extraPrompt"].get<std::string>());
  const std::string setup = a.positional.size() > 0
                                ? a.positional[0]
                                : read_secret("Provide setup password for '" + user + "': ");
  const std::string pin = a.positional.size() > 1
                              ? a.positional[1]
                              : read_secret("Provide PKCS11 password for '" + user + "': ");
  std::printf("\n");
  Secrets s = secrets ? *secrets : Secrets{};
  if (update) {
    // Documented: a failed update removes the current entry. The double removes it first.
    s.users.erase(user);
    write_secrets(sec_path, s);
    if (g_state["faults"].value("crashAfterRemove", false)) {
      g_state["faults"]["crashAfterRemove"] = false;
      save_state();
      std::_Exit(134);
    }
  }
  login_with_setup(hsms, user, setup, pin, secrets, [] {});
  if (!g_state["users"][user].contains("secret")) {
    g_state["users"][user]["secret"] = to_hex(user + "-permanent-secret").substr(0, 64);
  }
  s.users[user] = g_state["users"][user]["secret"].get<std::string>();
  write_secrets(sec_path, s);
  print_listing(hsms, s);
  std::printf("%s", kBanner);
  finish(0);
}
