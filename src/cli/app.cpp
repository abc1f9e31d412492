// SPDX-License-Identifier: Apache-2.0
#include "cli/app.hpp"

#include "cli/commands/commands.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"

#include "hsmctl/store/warm_up.hpp"
#include "hsmctl/util/held_lock.hpp"
#include "hsmctl/util/suggest.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::cli {
namespace {

struct Command {
  CommandMain main;
  const char* help;
};

const std::map<std::string, Command>& command_table() {
  static const std::map<std::string, Command> table = {
      {"validate", {validate_main, "check manifests (no device access)"}},
      {"plan", {plan_main, "show what apply would change on the devices"}},
      {"apply", {apply_main, "make the devices match the manifests"}},
      {"show", {show_main, "render a saved plan (hsmctl plan -out FILE)"}},
      {"get", {get_main, "print a device's observed state as a manifest"}},
      {"devices", {devices_main, "list PC/SC readers and the Pico HSMs in them"}},
      {"store", {store_main, "manage the encrypted credential store"}},
      {"dkek", {dkek_main, "create DKEK share files and compute a DKEK's key check value"}},
      {"policy", {policy_main, "run the test cases of a policy pack (policy test DIR)"}},
      {"version", {version_main, "print the version"}},
  };
  return table;
}

/// "30", "0.5", "0": whole or decimal seconds, at most a day.
std::optional<std::chrono::milliseconds> parse_lock_timeout(const std::string& text) {
  if (text.empty() || text.size() > 12)
    return std::nullopt;
  std::size_t used = 0;
  double seconds = 0;
  try {
    seconds = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size() || seconds < 0 || seconds > 86400 || !std::isfinite(seconds))
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

void print_usage(std::ostream& out) {
  out << "Usage: hsmctl [global options] <command> [options]\n\n"
         "Configuration as code for hardware security modules.\n\nCommands:\n";
  for (const auto& [name, cmd] : command_table()) {
    out << "  " << name << std::string(10 - name.size(), ' ') << cmd.help << "\n";
  }
  out << "\nGlobal options:\n"
         "  --store PATH     credential store (default $HSMCTL_STORE or the XDG data dir;\n"
         "                   'none' keeps nothing)\n"
         "  --no-color       no ANSI colours (also NO_COLOR=1)\n"
         "  -v, --verbose    more detail on stderr\n"
         "  --lock-timeout SECONDS  how long to wait for a store, reader or simulator\n"
         "                   another hsmctl holds (default $HSMCTL_LOCK_TIMEOUT or 30;\n"
         "                   docs/locking.md)\n"
         "  -h, --help       this help; 'hsmctl <command> --help' for a command\n\n"
         "Exit codes (docs/exit-codes.md):\n"
         "  0    success (plan ran; in sync; apply completed, nothing blocked)\n"
         "  1    error (a device, a secret or the store failed; apply refused or cancelled)\n"
         "  2    plan --detailed-exitcode: changes pending, nothing blocked\n"
         "  3    blocked: an action needs an operator (plan --detailed-exitcode, apply)\n"
         "  64   usage error      65  invalid manifest / no manifest found\n"
         "  69   unavailable (pcscd, reader, card, simulator file, ppin)\n"
         "  130  interrupted (SIGINT)   143  terminated (SIGTERM)\n";
}

}  // namespace

int run(int argc, char** argv) {
  GlobalOptions global;
  if (const char* s = std::getenv("HSMCTL_STORE"))
    global.store_path = s;
  bool no_color = false;
  std::optional<std::string> lock_timeout;
  if (const char* t = std::getenv("HSMCTL_LOCK_TIMEOUT"); t != nullptr && *t != '\0')
    lock_timeout = t;
  int i = 1;
  // Global options stop at the first word that is not one (the command).
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store") {
      if (i + 1 >= argc) {
        std::cerr << "hsmctl: error: --store needs a path\n";
        return kExitUsage;
      }
      global.store_path = argv[++i];
    } else if (a.rfind("--store=", 0) == 0) {
      global.store_path = a.substr(8);
    } else if (a == "--lock-timeout") {
      if (i + 1 >= argc) {
        std::cerr << "hsmctl: error: --lock-timeout needs a number of seconds\n";
        return kExitUsage;
      }
      lock_timeout = argv[++i];
    } else if (a.rfind("--lock-timeout=", 0) == 0) {
      lock_timeout = a.substr(15);
    } else if (a == "--no-color") {
      no_color = true;
    } else if (a == "-v" || a == "--verbose") {
      ++global.verbosity;
    } else if (a == "-h" || a == "--help") {
      print_usage(std::cout);
      return kExitOk;
    } else if (a == "--version") {
      return version_main({}, global);
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "hsmctl: error: unknown global option '" << a << "'\n";
      return kExitUsage;
    } else {
      break;
    }
  }
  if (i >= argc) {
    print_usage(std::cerr);
    return kExitUsage;
  }
  const std::string name = argv[i];
  LockWait wait;
  wait.holder = "hsmctl " + name;
  if (lock_timeout) {
    auto seconds = parse_lock_timeout(*lock_timeout);
    if (!seconds) {
      std::cerr << "hsmctl: error: --lock-timeout / HSMCTL_LOCK_TIMEOUT must be a number of "
                   "seconds from 0 to 86400\n";
      return kExitUsage;
    }
    wait.timeout = *seconds;
  }
  set_lock_wait(std::move(wait));
  // --no-color is accepted anywhere on the line (up to a `--`), not only before the command.
  std::vector<std::string> args;
  bool options_end = false;
  for (int j = i + 1; j < argc; ++j) {
    const std::string a = argv[j];
    if (a == "--")
      options_end = true;
    if (!options_end && a == "--no-color") {
      no_color = true;
      continue;
    }
    args.push_back(a);
  }
  global.color = !no_color && stdout_wants_color();
  auto it = command_table().find(name);
  if (it == command_table().end()) {
    std::vector<std::string> known;
    for (const auto& [command, unused] : command_table())
      known.push_back(command);
    const std::string guess = util::closest_match(name, known);
    std::cerr << "hsmctl: error: unknown command '" << name << "'"
              << (guess.empty() ? "" : "; did you mean '" + guess + "'?")
              << " (see hsmctl --help)\n";
    return kExitUsage;
  }
  // plan and apply open the credential store: OpenSSL's first use (~3 ms of CPU) starts now on
  // a second core, while the command line and the manifests are read (store/warm_up.hpp).
  std::optional<store::CryptoWarmUp> crypto_warm_up;
  if (name == "plan" || name == "apply")
    global.crypto_warm_up = &crypto_warm_up.emplace();
  try {
    return it->second.main(args, global);
  } catch (const std::exception& e) {
    // A bug: report it plainly instead of a stack trace.
    std::cerr << "hsmctl: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace hsmctl::cli
