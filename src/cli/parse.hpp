// SPDX-License-Identifier: Apache-2.0
#pragma once
// Boost.Program_options glue shared by the commands; only cli/ sees Boost.

#include <boost/program_options.hpp>

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::cli {

namespace po = boost::program_options;

/// Parses a command's arguments strictly (unknown options and stray words are errors). Prints
/// the usage error and returns nullopt on failure; prints help and returns nullopt for --help
/// (then *help_shown is set).
std::optional<po::variables_map> parse_command(const std::string& command,
                                               const std::vector<std::string>& args,
                                               po::options_description& options,
                                               const po::positional_options_description& positional,
                                               bool* help_shown);

}  // namespace hsmctl::cli
