// SPDX-License-Identifier: Apache-2.0
// `hsmctl policy test DIR...`: runs the PolicyTest cases of a policy pack against its Policy
// documents (as `conftest verify` does), prints PASS/FAIL per case; exit 0 when every case
// passes, 1 when one fails, 65 when a document is invalid. The evaluator is policy/policy.hpp.

#include "hsmctl/policy/policy.hpp"

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "cli/parse.hpp"

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace hsmctl::cli {

int policy_main(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  std::vector<std::string> words;
  po::options_description o(
      "policy options\n\n"
      "  hsmctl policy test DIR...   run the PolicyTest documents of DIR and DIR/tests against\n"
      "                              the Policy documents of DIR (docs/policies.md); exit 0 when\n"
      "                              every case passes, 1 when one fails, 65 invalid documents\n");
  o.add_options()("words", po::value(&words)->composing(), "test DIR...");
  po::positional_options_description pos;
  pos.add("words", -1);
  bool help = false;
  if (!parse_command("policy", args, o, pos, &help))
    return help ? kExitOk : kExitUsage;
  if (words.size() < 2 || words[0] != "test") {
    std::cerr << "hsmctl: error: policy: usage: hsmctl policy test DIR... (see hsmctl policy "
                 "--help)\n";
    return kExitUsage;
  }
  std::vector<std::string> paths;
  for (std::size_t i = 1; i < words.size(); ++i) {
    paths.push_back(words[i]);
    std::error_code ec;
    const auto tests = std::filesystem::path(words[i]) / "tests";
    if (std::filesystem::is_directory(tests, ec))
      paths.push_back(tests.string());
  }
  manifest::Diagnostics diagnostics;
  policy::Loaded loaded = policy::load(paths, /*with_tests=*/true, diagnostics);
  for (const auto& w : diagnostics.warnings())
    print_warning(w);
  if (diagnostics.has_errors()) {
    const auto errors = diagnostics.errors();
    print_errors(errors);
    std::cerr << "hsmctl: " << errors.size() << " error(s) in the policies or tests\n";
    return kExitManifest;
  }
  if (loaded.tests.empty()) {
    std::cerr << "hsmctl: error: policy test: no PolicyTest document found\n";
    return kExitError;
  }
  int failed = 0;
  for (const auto& t : loaded.tests) {
    const auto wrong = policy::run_test(loaded.policies, t);
    if (wrong.empty()) {
      std::cout << "PASS " << t.name << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAIL " << t.name << " (" << t.where.file << ":" << t.where.line << ")\n";
    for (const auto& w : wrong)
      std::cout << "     " << w << "\n";
  }
  std::cout << "\n"
            << loaded.tests.size() << " test(s), " << loaded.policies.size()
            << " policies: " << (loaded.tests.size() - failed) << " passed, " << failed
            << " failed.\n";
  return failed == 0 ? kExitOk : kExitError;
}

}  // namespace hsmctl::cli
