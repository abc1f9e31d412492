// SPDX-License-Identifier: Apache-2.0
#include "cli/parse.hpp"

#include <iostream>

namespace hsmctl::cli {

std::optional<po::variables_map> parse_command(const std::string& command,
                                               const std::vector<std::string>& args,
                                               po::options_description& options,
                                               const po::positional_options_description& positional,
                                               bool* help_shown) {
  options.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: hsmctl " << command << " [options]\n\n" << options << "\n";
      *help_shown = true;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hsmctl: error: " << command << ": " << e.what() << "\n";
    *help_shown = false;
    return std::nullopt;
  }
  return vm;
}

}  // namespace hsmctl::cli
