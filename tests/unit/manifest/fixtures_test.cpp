// SPDX-License-Identifier: Apache-2.0
// Every fixture under tests/fixtures/manifests/invalid/ must produce exactly the errors listed in
// its sibling .expected file (one "line:column: path: message" per line, file name stripped),
// in that order. "{kinds}" in an expected line stands for the supported kinds in table order
// ("PicoHSM, PrimusCluster, PrimusPartition"), so a new family edits no fixture.
#include "support/files.hpp"

#include "hsmctl/families/load.hpp"
#include "hsmctl/families/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace hsmctl::manifest {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  return fs::path(HSMCTL_SOURCE_DIR) / "tests/fixtures/manifests";
}

using hsmctl::testing::read_text;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty())
      out.push_back(line);
  }
  return out;
}

std::string expand_kinds(std::string line) {
  std::string kinds;
  for (const auto& k : families::kind_table(families::families()))
    kinds += (kinds.empty() ? "" : ", ") + std::string(k.kind);
  const std::string placeholder = "{kinds}";
  for (auto at = line.find(placeholder); at != std::string::npos; at = line.find(placeholder)) {
    line.replace(at, placeholder.size(), kinds);
  }
  return line;
}

// Error lines with the fixture's directory removed from the file name.
std::vector<std::string> render(const std::vector<Error>& errors, const fs::path& file) {
  std::vector<std::string> out;
  const std::string prefix = file.string() + ":";
  for (const Error& e : errors) {
    std::string s = e.to_string();
    if (s.rfind(prefix, 0) == 0)
      s = s.substr(prefix.size());
    out.push_back(s);
  }
  return out;
}

std::vector<fs::path> invalid_fixtures() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fixture_dir() / "invalid")) {
    if (entry.path().extension() == ".yaml")
      out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ManifestFixtures, EveryInvalidFixtureHasExpectations) {
  auto fixtures = invalid_fixtures();
  ASSERT_GE(fixtures.size(), 15u);
  for (const auto& f : fixtures) {
    fs::path expected = f;
    expected.replace_extension(".expected");
    EXPECT_TRUE(fs::exists(expected)) << expected;
  }
}

class ManifestInvalidFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ManifestInvalidFixture, ReportsExpectedErrors) {
  fs::path file = fixture_dir() / "invalid" / (GetParam() + ".yaml");
  fs::path expected_file = fixture_dir() / "invalid" / (GetParam() + ".expected");
  families::Loaded r = families::load({file.string()});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.units.empty());
  std::vector<std::string> actual = render(r.errors, file);
  std::vector<std::string> expected = lines_of(read_text(expected_file));
  for (auto& line : expected)
    line = expand_kinds(line);
  std::string actual_text;
  for (const auto& a : actual)
    actual_text += a + "\n";
  EXPECT_EQ(actual, expected) << "actual output:\n" << actual_text;
  for (const Error& e : r.errors)
    EXPECT_EQ(e.code, Errc::kManifest) << e.to_string();
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& f : invalid_fixtures())
    names.push_back(f.stem().string());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Manifest, ManifestInvalidFixture, ::testing::ValuesIn(fixture_names()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace hsmctl::manifest
