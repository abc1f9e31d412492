// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/suggest.hpp"

#include <algorithm>
#include <cctype>

namespace hsmctl::util {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (ca == cb ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 0;
  for (const auto& c : candidates) {
    std::size_t limit = std::max<std::size_t>(2, std::min(word.size(), c.size()) * 2 / 5);
    std::size_t d = edit_distance(word, c);
    if (d <= limit && (best.empty() || d < best_d)) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace hsmctl::util
