// SPDX-License-Identifier: Apache-2.0
// `hsmctl dkek create|kcv`: DKEK share files (sc-hsm-tool's .pbe format) for key custody
// ceremonies. The codec is secrets/dkek_share.hpp; this file parses, resolves the password
// references and prints.

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "cli/store_access.hpp"

#include "hsmctl/model/secret_ref.hpp"
#include "hsmctl/secrets/dkek_share.hpp"
#include "hsmctl/secrets/password_shares.hpp"
#include "hsmctl/secrets/resolve.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/store/unlock.hpp"

#include <boost/program_options.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::cli {
namespace {

namespace po = boost::program_options;

constexpr const char* kUsage =
    "Usage: hsmctl dkek <command> [options]\n"
    "\n"
    "DKEK share files for key custody ceremonies, byte-compatible with\n"
    "`sc-hsm-tool --create-dkek-share` / `--import-dkek-share` (docs/ceremonies.md).\n"
    "\n"
    "commands:\n"
    "  create FILE --password REF      write a new random DKEK share to FILE, encrypted with\n"
    "                                  the password (mode 0600; an existing FILE is never\n"
    "                                  overwritten); prints the share's KCV, never the share\n"
    "    create FILE --password-shares T/N [--share-files DIR]\n"
    "                                  the same with a random password split T-of-N as\n"
    "                                  `sc-hsm-tool --pwd-shares-threshold T --pwd-shares-total "
    "N`\n"
    "                                  does (3 <= N <= 9, 2 <= T <= N): each custodian's part\n"
    "                                  shown on the terminal one at a time, or written to\n"
    "                                  DIR/FILENAME.password-share-ID (mode 0600)\n"
    "  kcv FILE... --password REF...   print the key check value of the DKEK these shares make\n"
    "                                  (one --password per FILE, in the same order): what the\n"
    "                                  device reports after importing them\n"
    "\n"
    "REF is a secret reference as in manifests: env:NAME, file:PATH (mode 0600), store:NAME\n"
    "or prompt (asked twice on the terminal); never the password itself. A split password is\n"
    "--password shares:REF,REF,... : one reference per custodian's part (at least the\n"
    "threshold's number), each holding PRIME/ID/VALUE as create showed it. Each file costs\n"
    "about 10 seconds of key derivation (10,000,000 MD5 iterations, as sc-hsm-tool).\n"
    "\n"
    "Exit codes: 0 done; 1 error (FILE exists, wrong password or damaged file, a reference\n"
    "that cannot be resolved); 64 usage error.\n";

int usage_error(const std::string& message) {
  std::cerr << "hsmctl: error: dkek: " << message << " (see hsmctl dkek --help)\n";
  return kExitUsage;
}

int fail(const Error& error) {
  print_error(error);
  return error.code == Errc::kUsage ? kExitUsage : kExitError;
}

// Resolves each reference; the store is opened only when a reference names it.
class PasswordResolver {
 public:
  explicit PasswordResolver(const GlobalOptions& global) : global_(global) {}

  Result<Secret> resolve(const model::SecretRef& ref, const std::string& field) {
    store::CredentialKeeper* keeper = &ephemeral_;
    if (ref.kind == model::SecretRef::Kind::kStore) {
      if (!store_) {
        HSMCTL_TRY_ASSIGN(store_, open_keeper(global_, /*will_write=*/false));
      }
      keeper = store_.get();
    }
    HSMCTL_TRY_ASSIGN(auto resolved, secrets::resolve(ref, field, *keeper, {}));
    if (!resolved.value)
      return make_error(Errc::kSecret, field + ": " + ref.display() + " has no value");
    return std::move(*resolved.value);
  }

 private:
  const GlobalOptions& global_;
  store::EphemeralKeeper ephemeral_;
  std::unique_ptr<store::CredentialKeeper> store_;
};

// One --password: a reference, or (kcv) "shares:REF,REF,..." for a split password.
struct PasswordSpec {
  model::SecretRef ref;
  std::vector<model::SecretRef> parts;  ///< non-empty: the custodians' parts
};

std::optional<model::SecretRef> parse_ref(const std::string& text) {
  auto ref = model::parse_secret_reference(text);
  if (!ref || ref->kind == model::SecretRef::Kind::kGenerate)
    return std::nullopt;
  return ref;
}

std::optional<PasswordSpec> parse_password_spec(const std::string& text) {
  PasswordSpec spec;
  constexpr std::string_view kShares = "shares:";
  if (text.rfind(kShares, 0) != 0) {
    auto ref = parse_ref(text);
    if (!ref)
      return std::nullopt;
    spec.ref = *ref;
    return spec;
  }
  std::size_t from = kShares.size();
  while (true) {
    const std::size_t comma = text.find(',', from);
    auto ref = parse_ref(text.substr(from, comma == std::string::npos ? comma : comma - from));
    if (!ref)
      return std::nullopt;
    spec.parts.push_back(*ref);
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  if (spec.parts.size() < 2)
    return std::nullopt;
  return spec;
}

Result<Secret> resolve_password(PasswordResolver& resolver, const PasswordSpec& spec,
                                const std::string& file) {
  if (spec.parts.empty())
    return resolver.resolve(spec.ref, "password of the DKEK share file " + file);
  std::vector<Secret> parts;
  for (std::size_t i = 0; i < spec.parts.size(); ++i) {
    HSMCTL_TRY_ASSIGN(auto part,
                      resolver.resolve(spec.parts[i], "password share " + std::to_string(i + 1) +
                                                          " of the DKEK share file " + file));
    parts.push_back(std::move(part));
  }
  auto password = secrets::combine_password_shares(parts);
  if (!password) {
    Error e = password.error();
    e.message = "password of the DKEK share file " + file + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return password;
}

// "2/3" -> {2, 3}.
std::optional<std::pair<int, int>> parse_threshold(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || slash > 3 ||
      text.size() - slash - 1 > 3)
    return std::nullopt;
  int t = 0;
  int n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == slash)
      continue;
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    int& v = i < slash ? t : n;
    v = v * 10 + (text[i] - '0');
  }
  return std::make_pair(t, n);
}

// Waits for <enter>; false at the end of input.
bool wait_for_enter() {
  std::string line;
  const bool ok = static_cast<bool>(std::getline(std::cin, line));
  secure_wipe(line.data(), line.size());
  return ok;
}

void clear_screen() {
  std::cout << "\033[H\033[2J\033[3J" << std::flush;
}

// sc-hsm-tool's way: each part on its own screen, cleared before the next custodian comes.
Result<void> show_parts_on_terminal(const secrets::SplitPassword& split, const std::string& file,
                                    int threshold) {
  const auto total = split.parts.size();
  std::cout << "The DKEK share in " << file << " is encrypted with a random password, split "
            << threshold << "-of-" << total << ": any " << threshold << " of the " << total
            << " custodians' parts give it back\n(sc-hsm-tool --import-dkek-share FILE "
               "--pwd-shares-total "
            << threshold << ", or a manifest's passwordShares).\n\nPress <enter> to continue"
            << std::flush;
  if (!wait_for_enter())
    return make_error(Errc::kUsage, "input ended before every password share was shown");
  for (const auto& part : split.parts) {
    clear_screen();
    std::cout << "Press <enter> to display password share " << part.id << " of " << total
              << " (custodian " << part.id << " only)" << std::flush;
    if (!wait_for_enter())
      return make_error(Errc::kUsage, "input ended before every password share was shown");
    clear_screen();
    const Secret text = part.text();
    std::cout << "Password share " << part.id << " of " << total << " of " << file << "\n\n"
              << "Prime       : " << part.prime_hex << "\n"
              << "Share ID    : " << part.id << "\n"
              << "Share value : " << part.value_hex.view() << "\n\n"
              << "As one line (a manifest's passwordShares part):\n"
              << text.view() << "\n\n"
              << "Please note ALL values above and press <enter> when finished" << std::flush;
    if (!wait_for_enter()) {
      clear_screen();
      return make_error(Errc::kUsage, "input ended before every password share was shown");
    }
  }
  clear_screen();
  return {};
}

// Each part to DIR/FILENAME.password-share-ID, created exclusively, mode 0600, "TEXT\n".
Result<std::vector<std::string>> write_share_files(const secrets::SplitPassword& split,
                                                   const std::string& dir,
                                                   const std::string& file) {
  std::vector<std::string> written;
  const std::string base = std::filesystem::path(file).filename().string();
  auto undo = [&written] {
    for (const auto& w : written)
      ::unlink(w.c_str());
  };
  for (const auto& part : split.parts) {
    const std::string path =
        (std::filesystem::path(dir) / (base + ".password-share-" + std::to_string(part.id)))
            .string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      undo();
      return make_error(Errc::kIo, "cannot create " + path + ": " + std::strerror(err),
                        SysErrno{err});
    }
    written.push_back(path);
    Secret text = part.text();
    std::string line(text.view());
    line.push_back('\n');
    std::size_t done = 0;
    bool ok = ::fchmod(fd, 0600) == 0;
    while (ok && done < line.size()) {
      const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      ok = n > 0;
      if (ok)
        done += static_cast<std::size_t>(n);
    }
    secure_wipe(line.data(), line.size());
    ok = ok && ::fsync(fd) == 0;
    const int err = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
      undo();
      return make_error(Errc::kIo, "cannot write " + path + ": " + std::strerror(err),
                        SysErrno{err});
    }
  }
  return written;
}

}  // namespace

int dkek_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  // The process holds a DKEK share and its password: no core file.
  (void)store::disable_core_dumps();

  po::options_description visible("options");
  visible.add_options()("help,h", "show this help")(
      "password", po::value<std::vector<std::string>>()->composing(),
      "secret reference of a share file's password (env:NAME, file:PATH, store:NAME, prompt; "
      "kcv: shares:REF,REF,... for a split password); kcv: one per FILE, in order")(
      "password-shares", po::value<std::string>(),
      "create: T/N, a random password split T-of-N as sc-hsm-tool --pwd-shares-threshold T "
      "--pwd-shares-total N")("share-files", po::value<std::string>(),
                              "create --password-shares: write each custodian's part to "
                              "DIR/FILENAME.password-share-ID instead of the terminal");
  po::options_description hidden;
  hidden.add_options()("test-iterations", po::value<int>(),
                       "tests only: key-derivation count instead of sc-hsm-tool's")(
      "words", po::value<std::vector<std::string>>(), "command and files");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);

  po::variables_map vm;
  try {
    // No prefix guessing, as every other command (cli/parse.cpp).
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(all).positional(positional).style(style).run(),
              vm);
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
    return usage_error("a command is required (create, kcv)");
  const std::string verb = words[0];
  const std::vector<std::string> files(words.begin() + 1, words.end());
  if (verb != "create" && verb != "kcv")
    return usage_error("unknown dkek command '" + verb + "' (create, kcv)");

  std::vector<std::string> password_texts;
  if (vm.count("password") != 0)
    password_texts = vm["password"].as<std::vector<std::string>>();
  std::vector<PasswordSpec> specs;
  for (const auto& text : password_texts) {
    auto spec = parse_password_spec(text);
    // The text is not echoed: it may be a password typed where a reference belongs.
    if (!spec) {
      return usage_error(
          "--password takes a secret reference (env:NAME, file:PATH, store:NAME or prompt), or "
          "shares:REF,REF,... with at least two, never the password itself");
    }
    specs.push_back(std::move(*spec));
  }
  int iterations = secrets::kScHsmToolIterations;
  if (vm.count("test-iterations") != 0) {
    iterations = vm["test-iterations"].as<int>();
    if (iterations <= 0)
      return usage_error("--test-iterations must be positive");
  }
  const bool split = vm.count("password-shares") != 0;
  const bool share_files = vm.count("share-files") != 0;

  if (verb == "create") {
    if (files.size() != 1)
      return usage_error("dkek create takes one FILE");
    if (split == !specs.empty() || specs.size() > 1)
      return usage_error("dkek create needs one --password, or --password-shares T/N");
    if (!specs.empty() && !specs[0].parts.empty())
      return usage_error("dkek create makes a split password with --password-shares T/N");
    if (share_files && !split)
      return usage_error("--share-files goes with --password-shares");
  } else {
    if (files.empty())
      return usage_error("dkek kcv takes at least one FILE");
    if (split || share_files)
      return usage_error("--password-shares and --share-files are for dkek create");
    if (specs.size() != files.size()) {
      return usage_error("dkek kcv needs one --password per FILE (" + std::to_string(files.size()) +
                         " file(s), " + std::to_string(specs.size()) + " --password)");
    }
  }

  PasswordResolver resolver(global);
  if (verb == "create" && split) {
    const std::string& file = files[0];
    const auto tn = parse_threshold(vm["password-shares"].as<std::string>());
    if (!tn)
      return usage_error("--password-shares takes T/N, e.g. 2/3");
    if (const auto problem = secrets::check_password_shares(tn->first, tn->second);
        !problem.empty())
      return usage_error("--password-shares: " + problem);
    if (!share_files && (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0)) {
      return usage_error(
          "--password-shares shows each custodian's part on a terminal, one at a time; without "
          "a terminal, write them to files with --share-files DIR");
    }
    auto parts = secrets::split_new_password(tn->first, tn->second);
    if (!parts)
      return fail(parts.error());
    auto kcv = secrets::create_dkek_share_file(file, parts->password, iterations);
    if (!kcv)
      return fail(kcv.error());
    // The file is only usable with the parts: if they cannot all be handed out, it goes.
    if (share_files) {
      auto written = write_share_files(*parts, vm["share-files"].as<std::string>(), file);
      if (!written) {
        ::unlink(file.c_str());
        return fail(written.error());
      }
      std::cout << "DKEK share written to " << file << " (mode 0600), its password split "
                << tn->first << "-of-" << tn->second << ":\n";
      for (const auto& w : *written)
        std::cout << "  password share written to " << w << " (mode 0600)\n";
    } else {
      auto shown = show_parts_on_terminal(*parts, file, tn->first);
      if (!shown) {
        ::unlink(file.c_str());
        Error e = shown.error();
        e.message += ": " + file + " removed";
        print_error(e);
        return kExitError;
      }
      std::cout << "DKEK share written to " << file << " (mode 0600), its password split "
                << tn->first << "-of-" << tn->second << "\n";
    }
    std::cout << "KCV of this share: " << secrets::kcv_hex(*kcv) << "\n";
    return kExitOk;
  }
  if (verb == "create") {
    const std::string& file = files[0];
    auto password = resolve_password(resolver, specs[0], file);
    if (!password)
      return fail(password.error());
    auto kcv = secrets::create_dkek_share_file(file, *password, iterations);
    if (!kcv)
      return fail(kcv.error());
    std::cout << "DKEK share written to " << file << " (mode 0600)\n"
              << "KCV of this share: " << secrets::kcv_hex(*kcv) << "\n";
    return kExitOk;
  }

  // Every password first (prompts one after the other), then the files at the same time.
  std::vector<Secret> passwords;
  passwords.reserve(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto password = resolve_password(resolver, specs[i], files[i]);
    if (!password)
      return fail(password.error());
    passwords.push_back(std::move(*password));
  }
  std::vector<Secret> shares;
  shares.reserve(files.size());
  for (auto& share : secrets::read_dkek_share_files(files, passwords, iterations)) {
    if (!share)
      return fail(share.error());
    shares.push_back(std::move(*share));
  }
  auto kcv = secrets::dkek_kcv(shares);
  if (!kcv)
    return fail(kcv.error());
  std::cout << "KCV of the DKEK made of " << shares.size()
            << (shares.size() == 1 ? " share: " : " shares: ") << secrets::kcv_hex(*kcv) << "\n";
  return kExitOk;
}

}  // namespace hsmctl::cli
