// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: the PicoHSM documents the project ships (tests/fixtures/manifests/valid and
// examples/), each retargeted at a test device: the device selector becomes the test's serial
// and `secret:` references become env:USER_PIN / env:SO_PIN (generated PINs stay generated).
// Every other field is the shipped manifest's, so the convergence tests cover what users copy.
// Header-only and standard-library-only: used by the CLI and the e2e tests.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace hsmctl::testing {

struct ShippedDoc {
  std::string name;       ///< "examples/quickstart.yaml#0"
  std::string test_name;  ///< a GoogleTest-safe version of name
  std::string text;       ///< the document as shipped
};

inline std::vector<ShippedDoc> shipped_pico_docs() {
  namespace fs = std::filesystem;
  const fs::path root = HSMCTL_SOURCE_DIR;
  std::vector<fs::path> files;
  for (const char* dir : {"tests/fixtures/manifests/valid", "examples"}) {
    for (const auto& e : fs::directory_iterator(root / dir)) {
      if (e.is_regular_file() &&
          (e.path().extension() == ".yaml" || e.path().extension() == ".yml")) {
        files.push_back(e.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<ShippedDoc> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::size_t start = 0;
    int index = 0;
    while (start <= text.size()) {
      std::size_t sep = text.find("\n---\n", start);
      std::string doc =
          text.substr(start, sep == std::string::npos ? std::string::npos : sep - start + 1);
      start = sep == std::string::npos ? text.size() + 1 : sep + 5;
      if (doc.find("kind: PicoHSM") == std::string::npos)
        continue;
      ShippedDoc d;
      d.name = fs::relative(f, root).string() + "#" + std::to_string(index++);
      for (char c : d.name)
        d.test_name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      d.text = doc;
      out.push_back(std::move(d));
    }
  }
  return out;
}

/// The document with its device selector and secret references pointed at the test.
inline std::string retarget(const std::string& doc, const std::string& serial) {
  std::string out = std::regex_replace(doc, std::regex("(^|\n)  device:[^\n]*\n(    [^\n]*\n)*"),
                                       "$1  device: {serial: \"" + serial + "\"}\n");
  out = std::regex_replace(out, std::regex("(^|\n)  userPin: \\{secret:[^}]*\\}"),
                           "$1  userPin: {secret: \"env:USER_PIN\"}");
  out = std::regex_replace(out, std::regex("(^|\n)  soPin: \\{secret:[^}]*\\}"),
                           "$1  soPin: {secret: \"env:SO_PIN\"}");
  return out;
}

}  // namespace hsmctl::testing
