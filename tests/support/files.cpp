// SPDX-License-Identifier: Apache-2.0
#include "support/files.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace hsmctl::testing {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_text(const std::string& path, const std::string& text, int mode) {
  bool written = false;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    written = !out.fail();
  }
  return ::chmod(path.c_str(), static_cast<mode_t>(mode)) == 0 && written;
}

}  // namespace hsmctl::testing
