// SPDX-License-Identifier: Apache-2.0
#pragma once
// "Did you mean": the closest of a set of known words (manifest keys, commands, options).

#include <cstddef>
#include <string>
#include <vector>

namespace hsmctl::util {

/// Levenshtein distance, ASCII case-insensitive.
std::size_t edit_distance(const std::string& a, const std::string& b);

/// The candidate closest to `word` when it is close enough (at most 40% of the shorter word
/// edited, at least 2), else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace hsmctl::util
