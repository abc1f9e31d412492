// SPDX-License-Identifier: Apache-2.0
#include "cli/parse.hpp"

#include "hsmctl/util/suggest.hpp"

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
    // No prefix guessing: `--allow-r` must never mean `--allow-reinit` (a flag this tool's
    // safety rests on), and a new option must never change what an abbreviation meant.
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(
        po::command_line_parser(args).options(options).positional(positional).style(style).run(),
        vm);
    if (vm.count("help")) {
      std::cout << "Usage: hsmctl " << command << " [options]\n\n" << options << "\n";
      *help_shown = true;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::vector<std::string> known;
    for (const auto& d : options.options()) {
      if (!d->long_name().empty())
        known.push_back("--" + d->long_name());
    }
    // An abbreviation is refused (no guessing) but named: the options it is a prefix of.
    const std::string given = e.get_option_name();
    std::string guess;
    for (const auto& k : known) {
      if (given.size() > 2 && k.rfind(given, 0) == 0)
        guess += (guess.empty() ? "" : "' or '") + k;
    }
    if (guess.empty())
      guess = util::closest_match(given, known);
    std::cerr << "hsmctl: error: " << command << ": " << e.what()
              << (guess.empty() ? "" : "; did you mean '" + guess + "'?") << " (see hsmctl "
              << command << " --help)\n";
    *help_shown = false;
    return std::nullopt;
  } catch (const po::error& e) {
    std::cerr << "hsmctl: error: " << command << ": " << e.what() << "\n";
    *help_shown = false;
    return std::nullopt;
  }
  return vm;
}

}  // namespace hsmctl::cli
