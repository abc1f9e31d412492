// SPDX-License-Identifier: Apache-2.0
#pragma once
// Every subcommand's entry point (the dispatch table is in cli/app.cpp).

#include "cli/context.hpp"

#include <string>
#include <vector>

namespace hsmctl::cli {

int validate_main(const std::vector<std::string>& args, const GlobalOptions& global);
int plan_main(const std::vector<std::string>& args, const GlobalOptions& global);
int apply_main(const std::vector<std::string>& args, const GlobalOptions& global);
int get_main(const std::vector<std::string>& args, const GlobalOptions& global);
/// `hsmctl show PLAN [-o text|json|markdown]` (commands/saved_plan.cpp): renders a saved plan.
int show_main(const std::vector<std::string>& args, const GlobalOptions& global);
int version_main(const std::vector<std::string>& args, const GlobalOptions& global);
int devices_main(const std::vector<std::string>& args, const GlobalOptions& global);
int store_main(const std::vector<std::string>& args, const GlobalOptions& global);
/// `hsmctl dkek create|kcv` (commands/dkek.cpp): 0 ok, 1 error, 64 usage.
int dkek_main(const std::vector<std::string>& args, const GlobalOptions& global);
/// `hsmctl policy test DIR...` (commands/policy.cpp): 0 all cases pass, 1 one fails, 65 invalid.
int policy_main(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace hsmctl::cli
