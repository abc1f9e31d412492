// SPDX-License-Identifier: Apache-2.0
#include "cli/commands/store.hpp"

#include "hsmctl/store/store_command.hpp"
#include "hsmctl/store/unlock.hpp"

#include <boost/program_options.hpp>

#include <unistd.h>

#include <iostream>
#include <map>
#include <set>

namespace hsmctl::cli {
namespace {

namespace po = boost::program_options;
using store::KeyMode;
using store::StoreCommand;

constexpr const char* kUsage =
    "usage: hsmctl store [options] <command> [args]\n"
    "\n"
    "commands:\n"
    "  init                 create the store (passphrase, or key file with --mode key-file)\n"
    "  list                 names, states and metadata of the entries (never values)\n"
    "  get NAME [--reveal]  show an entry; --reveal prints its value to stdout\n"
    "  set NAME [--meta K=V]...  store a value read from stdin or a no-echo prompt\n"
    "  rm NAME              remove an entry\n"
    "  passwd               re-encrypt under a new passphrase or key file\n"
    "  export FILE          write an encrypted backup with its own passphrase\n"
    "  import FILE          merge entries from a backup\n"
    "\n"
    "The store is unlocked with HSMCTL_STORE_PASSPHRASE_FILE, HSMCTL_STORE_PASSPHRASE_FD,\n"
    "HSMCTL_STORE_KEY_FILE (or the options below), or a prompt on a terminal.\n";

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::kUsage:
      return kExitUsage;
    case Errc::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

int usage_error(const std::string& message) {
  std::cerr << "hsmctl store: " << message << "\n"
            << "(see hsmctl store --help)\n";
  return kExitUsage;
}

std::optional<int> parse_fd(const std::string& text) {
  try {
    std::size_t used = 0;
    int fd = std::stoi(text, &used);
    if (used != text.size() || fd < 0)
      return std::nullopt;
    return fd;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int store_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  // A process that handles store secrets must not leave them in a core file.
  (void)store::disable_core_dumps();

  po::options_description visible("options");
  visible.add_options()("help,h", "show this help")(
      "key-file", po::value<std::string>(),
      "key file that unlocks (or, for init, protects) the store")(
      "passphrase-file", po::value<std::string>(), "file (0600) holding the store passphrase")(
      "passphrase-fd", po::value<std::string>(), "descriptor to read the store passphrase from")(
      "mode", po::value<std::string>(), "init: passphrase | key-file")(
      "reveal", po::bool_switch(), "get: print the value to stdout")(
      "meta", po::value<std::vector<std::string>>()->composing(),
      "set: metadata KEY=VALUE (repeatable)")("new-passphrase-file", po::value<std::string>(),
                                              "passwd: file (0600) with the new passphrase")(
      "new-passphrase-fd", po::value<std::string>(), "passwd: descriptor with the new passphrase")(
      "to-key-file", po::value<std::string>(),
      "passwd: switch to a key file at this path (created if missing)")(
      "to-passphrase", po::bool_switch(), "passwd: switch to passphrase protection")(
      "backup-passphrase-file", po::value<std::string>(),
      "export/import: file (0600) with the backup passphrase")(
      "backup-passphrase-fd", po::value<std::string>(),
      "export/import: descriptor with the backup passphrase")(
      "overwrite", po::bool_switch(), "export: replace FILE; import: replace differing entries");
  po::options_description hidden;
  hidden.add_options()("test-scrypt-log2n", po::value<int>(),
                       "tests only: weaker scrypt work factor")(
      "words", po::value<std::vector<std::string>>(), "command and arguments");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help") != 0) {
    std::cout << kUsage << "\n" << visible;
    return kExitOk;
  }
  std::vector<std::string> words;
  if (vm.count("words") != 0)
    words = vm["words"].as<std::vector<std::string>>();
  if (words.empty())
    return usage_error("a command is required (init, list, get, set, rm, passwd, export, import)");

  static const std::map<std::string, std::pair<StoreCommand::Verb, int>> kVerbs = {
      {"init", {StoreCommand::Verb::kInit, 0}},     {"list", {StoreCommand::Verb::kList, 0}},
      {"get", {StoreCommand::Verb::kGet, 1}},       {"set", {StoreCommand::Verb::kSet, 1}},
      {"rm", {StoreCommand::Verb::kRm, 1}},         {"passwd", {StoreCommand::Verb::kPasswd, 0}},
      {"export", {StoreCommand::Verb::kExport, 1}}, {"import", {StoreCommand::Verb::kImport, 1}},
  };
  auto verb = kVerbs.find(words[0]);
  if (verb == kVerbs.end())
    return usage_error("unknown store command '" + words[0] + "'");
  const std::string& verb_name = words[0];
  if (verb->second.first == StoreCommand::Verb::kSet && words.size() > 2) {
    return usage_error(
        "store set takes only NAME: the value is read from stdin or a no-echo "
        "prompt, never from the command line");
  }
  if (static_cast<int>(words.size()) - 1 != verb->second.second) {
    return usage_error("store " + verb_name + " takes " + std::to_string(verb->second.second) +
                       " argument(s)");
  }
  // Which options make sense for which command; anything else is a usage error.
  static const std::map<std::string, std::set<std::string>> kOnlyFor = {
      {"mode", {"init"}},
      {"reveal", {"get"}},
      {"meta", {"set"}},
      {"new-passphrase-file", {"passwd"}},
      {"new-passphrase-fd", {"passwd"}},
      {"to-key-file", {"passwd"}},
      {"to-passphrase", {"passwd"}},
      {"backup-passphrase-file", {"export", "import"}},
      {"backup-passphrase-fd", {"export", "import"}},
      {"overwrite", {"export", "import"}},
  };
  for (const auto& [option, verbs] : kOnlyFor) {
    if (vm.count(option) == 0 || vm[option].defaulted())
      continue;
    if (vm[option].value().type() == typeid(bool) && !vm[option].as<bool>())
      continue;
    if (verbs.count(verb_name) == 0) {
      return usage_error("--" + option + " does not apply to store " + verb_name);
    }
  }

  StoreCommand cmd;
  cmd.verb = verb->second.first;
  if (words.size() > 1) {
    if (cmd.verb == StoreCommand::Verb::kExport || cmd.verb == StoreCommand::Verb::kImport) {
      cmd.file = words[1];
    } else {
      cmd.name = words[1];
    }
  }
  if (global.store_path == "none") {
    return usage_error("`hsmctl store` needs a store file; --store none keeps nothing to manage");
  }
  if (!global.store_path.empty()) {
    cmd.store_path = global.store_path;
  } else {
    auto path = store::default_store_path();
    if (!path) {
      std::cerr << "hsmctl store: error: " << path.error().message << "\n";
      return kExitError;
    }
    cmd.store_path = *path;
  }

  auto env = store::UnlockOptions::from_environment();
  if (!env)
    return usage_error(env.error().message);
  cmd.unlock = *env;
  cmd.unlock.allow_prompt = true;  // asked on /dev/tty, so stdin may carry a value (store set)
  if (vm.count("key-file") != 0)
    cmd.unlock.key_file = vm["key-file"].as<std::string>();
  if (vm.count("passphrase-file") != 0) {
    cmd.unlock.passphrase_file = vm["passphrase-file"].as<std::string>();
    cmd.unlock.passphrase_fd.reset();
  }
  if (vm.count("passphrase-fd") != 0) {
    auto fd = parse_fd(vm["passphrase-fd"].as<std::string>());
    if (!fd)
      return usage_error("--passphrase-fd needs a descriptor number");
    cmd.unlock.passphrase_fd = *fd;
    cmd.unlock.passphrase_file.reset();
  }
  if (vm.count("mode") != 0) {
    const auto& m = vm["mode"].as<std::string>();
    if (m == "passphrase") {
      cmd.init_mode = KeyMode::kPassphrase;
    } else if (m == "key-file") {
      cmd.init_mode = KeyMode::kKeyFile;
    } else {
      return usage_error("--mode must be passphrase or key-file");
    }
  }
  cmd.reveal = vm["reveal"].as<bool>();
  cmd.overwrite = vm["overwrite"].as<bool>();
  if (vm.count("meta") != 0) {
    for (const auto& kv : vm["meta"].as<std::vector<std::string>>()) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return usage_error("--meta needs KEY=VALUE");
      cmd.metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }

  // The second key source: the new key for passwd, the backup passphrase for export/import.
  cmd.other_unlock.allow_prompt = cmd.unlock.allow_prompt;
  const bool is_passwd = cmd.verb == StoreCommand::Verb::kPasswd;
  cmd.other_unlock.prompt_label = is_passwd ? "new store passphrase" : "backup passphrase";
  const std::string file_opt = is_passwd ? "new-passphrase-file" : "backup-passphrase-file";
  const std::string fd_opt = is_passwd ? "new-passphrase-fd" : "backup-passphrase-fd";
  if (vm.count(file_opt) != 0)
    cmd.other_unlock.passphrase_file = vm[file_opt].as<std::string>();
  if (vm.count(fd_opt) != 0) {
    auto fd = parse_fd(vm[fd_opt].as<std::string>());
    if (!fd)
      return usage_error("--" + fd_opt + " needs a descriptor number");
    cmd.other_unlock.passphrase_fd = *fd;
  }
  if (vm.count("to-key-file") != 0) {
    if (vm["to-passphrase"].as<bool>()) {
      return usage_error("--to-key-file and --to-passphrase exclude each other");
    }
    cmd.other_unlock.key_file = vm["to-key-file"].as<std::string>();
    cmd.new_mode = KeyMode::kKeyFile;
  } else if (vm["to-passphrase"].as<bool>()) {
    cmd.new_mode = KeyMode::kPassphrase;
  }
  if (is_passwd && !cmd.new_mode) {
    // Same mode as now: a passphrase store gets a new passphrase; a key-file store gets a new
    // key file only when one is named (the old one is never overwritten).
    cmd.other_unlock.key_file = cmd.unlock.key_file;
  }
  if (vm.count("test-scrypt-log2n") != 0) {
    cmd.options.scrypt.log2_n = vm["test-scrypt-log2n"].as<int>();
    cmd.options.allow_weak_kdf_for_tests = true;
  }

  store::StoreIo io{STDIN_FILENO, std::cout, std::cerr};
  auto result = store::run_store_command(cmd, io);
  std::cout.flush();
  if (!result) {
    std::cerr << "hsmctl store: error: " << result.error().message << "\n";
    return exit_code_for(result.error().code);
  }
  return kExitOk;
}

}  // namespace hsmctl::cli
