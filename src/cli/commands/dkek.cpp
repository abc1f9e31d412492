// SPDX-License-Identifier: Apache-2.0
// `hsmctl dkek create|kcv`: DKEK share files (sc-hsm-tool's .pbe format) for key custody
// ceremonies. The codec is secrets/dkek_share.hpp; this file parses, resolves the password
// references and prints.

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "cli/store_access.hpp"

#include "hsmctl/model/secret_ref.hpp"
#include "hsmctl/secrets/dkek_share.hpp"
#include "hsmctl/secrets/resolve.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/store/unlock.hpp"

#include <boost/program_options.hpp>

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
    "  kcv FILE... --password REF...   print the key check value of the DKEK these shares make\n"
    "                                  (one --password per FILE, in the same order): what the\n"
    "                                  device reports after importing them\n"
    "\n"
    "REF is a secret reference as in manifests: env:NAME, file:PATH (mode 0600), store:NAME\n"
    "or prompt (asked twice on the terminal); never the password itself. Each file costs\n"
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

}  // namespace

int dkek_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  // The process holds a DKEK share and its password: no core file.
  (void)store::disable_core_dumps();

  po::options_description visible("options");
  visible.add_options()("help,h", "show this help")(
      "password", po::value<std::vector<std::string>>()->composing(),
      "secret reference of a share file's password (env:NAME, file:PATH, store:NAME, prompt); "
      "kcv: one per FILE, in order");
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
  std::vector<model::SecretRef> refs;
  for (const auto& text : password_texts) {
    auto ref = model::parse_secret_reference(text);
    // The text is not echoed: it may be a password typed where a reference belongs.
    if (!ref || ref->kind == model::SecretRef::Kind::kGenerate) {
      return usage_error(
          "--password takes a secret reference (env:NAME, file:PATH, store:NAME or prompt), "
          "never the password itself");
    }
    refs.push_back(*ref);
  }
  int iterations = secrets::kScHsmToolIterations;
  if (vm.count("test-iterations") != 0) {
    iterations = vm["test-iterations"].as<int>();
    if (iterations <= 0)
      return usage_error("--test-iterations must be positive");
  }

  if (verb == "create") {
    if (files.size() != 1)
      return usage_error("dkek create takes one FILE");
    if (refs.size() != 1)
      return usage_error("dkek create needs one --password");
  } else {
    if (files.empty())
      return usage_error("dkek kcv takes at least one FILE");
    if (refs.size() != files.size()) {
      return usage_error("dkek kcv needs one --password per FILE (" + std::to_string(files.size()) +
                         " file(s), " + std::to_string(refs.size()) + " --password)");
    }
  }

  PasswordResolver resolver(global);
  if (verb == "create") {
    const std::string& file = files[0];
    auto password = resolver.resolve(refs[0], "password of the DKEK share file " + file);
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
    auto password = resolver.resolve(refs[i], "password of the DKEK share file " + files[i]);
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
