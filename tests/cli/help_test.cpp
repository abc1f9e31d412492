// SPDX-License-Identifier: Apache-2.0
// `plan --help` and `apply --help` list the families' options (family::OptionSpec) in the order
// they always had, with `--auto-approve` among them, and a value option still takes a value.

#include "cli_fixture.hpp"

#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace hsmctl::testing {
namespace {

/// The long option names in the order --help prints them.
std::vector<std::string> option_names(const std::string& help) {
  std::vector<std::string> names;
  static const std::regex kOption(R"(^\s+(?:-\w \[ )?--([a-z-]+))");
  std::istringstream in(help);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kOption))
      names.push_back(m[1]);
  }
  return names;
}

class Help : public CliTest {};

TEST_F(Help, PlanListsTheFamiliesOptionsInTheirOrder) {
  auto r = hsmctl({"plan", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(option_names(r.out),
            (std::vector<std::string>{"file", "device", "selector", "target", "parallel", "ppin",
                                      "probe", "retry-rejected", "policy", "output",
                                      "detailed-exitcode", "out", "help"}));
  EXPECT_NE(r.out.find("  --ppin arg            Securosys ppin program (default $HSMCTL_PPIN"),
            std::string::npos)
      << r.out;
}

TEST_F(Help, ApplyListsTheFamiliesOptionsInTheirOrder) {
  auto r = hsmctl({"apply", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(option_names(r.out),
            (std::vector<std::string>{"file", "device", "selector", "target", "parallel", "ppin",
                                      "probe", "retry-rejected", "allow-destructive",
                                      "auto-approve", "allow-reinit", "allow-key-loss", "policy",
                                      "apply-valid-devices", "plan", "help"}));
  EXPECT_NE(r.out.find("  --allow-reinit         allow re-initialization (wipes all keys) where "
                       "the "),
            std::string::npos)
      << r.out;
}

TEST_F(Help, AnApplyOnlyOptionIsUnknownToPlan) {
  auto r = hsmctl({"plan", "--allow-reinit", "-f", "x.yaml"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_NE(r.err.find("unrecognised option '--allow-reinit'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hsmctl::testing
