// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/detail/yaml_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <string>

namespace hsmctl::manifest {
namespace {

using ::testing::HasSubstr;

std::string errors_of(const YamlFile& f) {
  std::string s;
  for (const auto& e : f.errors)
    s += e.to_string() + "\n";
  return s;
}

// Parses "v: <scalar>" and returns the value.
nlohmann::json scalar(const std::string& text) {
  YamlFile f = parse_yaml("v: " + text + "\n", "t.yaml");
  EXPECT_TRUE(f.errors.empty()) << text << ": " << errors_of(f);
  if (f.documents.size() != 1)
    return nullptr;
  return f.documents[0].value["v"];
}

// The error for "v: <scalar>", or "" when there is none.
std::string scalar_error(const std::string& text) {
  YamlFile f = parse_yaml("v: " + text + "\n", "t.yaml");
  return f.errors.empty() ? std::string() : f.errors[0].to_string();
}

TEST(ManifestYaml, CoreSchemaTyping) {
  EXPECT_EQ(scalar("true"), nlohmann::json(true));
  EXPECT_EQ(scalar("False"), nlohmann::json(false));
  EXPECT_TRUE(scalar("null").is_null());
  EXPECT_TRUE(scalar("~").is_null());
  EXPECT_TRUE(scalar("").is_null());
  EXPECT_TRUE(scalar("12").is_number_integer());
  EXPECT_EQ(scalar("-7"), nlohmann::json(-7));
  EXPECT_EQ(scalar("+7"), nlohmann::json(7));
  EXPECT_EQ(scalar("0"), nlohmann::json(0));
  EXPECT_TRUE(scalar("1.5").is_number_float());
  EXPECT_TRUE(scalar("1e3").is_number_float());
  EXPECT_EQ(scalar("E6614C311B4A2B21"), nlohmann::json("E6614C311B4A2B21"));
  EXPECT_EQ(scalar("Pico HSM"), nlohmann::json("Pico HSM"));
}

TEST(ManifestYaml, QuotedAndStrTaggedScalarsStayStrings) {
  EXPECT_EQ(scalar("\"true\""), nlohmann::json("true"));
  EXPECT_EQ(scalar("'yes'"), nlohmann::json("yes"));
  EXPECT_EQ(scalar("\"017\""), nlohmann::json("017"));
  EXPECT_EQ(scalar("\"12\""), nlohmann::json("12"));
  EXPECT_EQ(scalar("!!str 0x1F"), nlohmann::json("0x1F"));
  EXPECT_EQ(scalar("''"), nlohmann::json(""));
  EXPECT_EQ(scalar("|\n  block\n"), nlohmann::json("block\n"));
}

TEST(ManifestYaml, Yaml11SurprisesAreErrors) {
  for (const char* word : {"yes", "No", "ON", "off", "y", "N"}) {
    std::string e = scalar_error(word);
    EXPECT_THAT(e, HasSubstr("t.yaml:1:4: v: '" + std::string(word) + "' is a boolean in YAML 1.1"))
        << word;
    EXPECT_THAT(e, HasSubstr("write true or false"));
  }
  EXPECT_THAT(scalar_error("017"), HasSubstr("t.yaml:1:4: v: integer with a leading zero"));
  EXPECT_THAT(scalar_error("-08"), HasSubstr("leading zero"));
  EXPECT_THAT(scalar_error("0x1F"), HasSubstr("hexadecimal, octal and binary"));
  EXPECT_THAT(scalar_error("0o17"), HasSubstr("hexadecimal, octal and binary"));
  EXPECT_THAT(scalar_error("0b101"), HasSubstr("hexadecimal, octal and binary"));
  EXPECT_THAT(scalar_error("1_000"), HasSubstr("YAML 1.1 reads this plain scalar as a number"));
  EXPECT_THAT(scalar_error("1:30"), HasSubstr("YAML 1.1 reads this plain scalar as a number"));
  EXPECT_THAT(scalar_error(".inf"), HasSubstr("infinity and NaN"));
  EXPECT_THAT(scalar_error("99999999999999999999"), HasSubstr("integer out of range"));
  EXPECT_THAT(scalar_error("!!int 3"), HasSubstr("explicit tags are not supported"));
}

TEST(ManifestYaml, RefusedScalarsArePoisonedNotDropped) {
  YamlFile f = parse_yaml("a: yes\nb: 2\n", "t.yaml");
  ASSERT_EQ(f.documents.size(), 1u);
  EXPECT_EQ(f.documents[0].poisoned.count("/a"), 1u);
  EXPECT_EQ(f.documents[0].value["a"], nlohmann::json("yes"));
  EXPECT_EQ(f.documents[0].value["b"], nlohmann::json(2));
  EXPECT_EQ(f.documents[0].error_count, 1);
}

TEST(ManifestYaml, DuplicateKeysInBlockAndFlowMaps) {
  YamlFile f = parse_yaml("a: 1\nb: {x: 1, y: 2, x: 3}\na: 2\n", "d.yaml");
  ASSERT_EQ(f.errors.size(), 2u) << errors_of(f);
  EXPECT_EQ(f.errors[0].to_string(),
            "d.yaml:2:17: b.x: duplicate key 'x' (first defined at line 2, column 5)");
  EXPECT_EQ(f.errors[1].to_string(),
            "d.yaml:3:1: a: duplicate key 'a' (first defined at line 1, column 1)");
  // The first value wins in the converted document (it is not used anyway).
  EXPECT_EQ(f.documents[0].value["a"], nlohmann::json(1));
  EXPECT_EQ(f.documents[0].value["b"]["x"], nlohmann::json(1));
}

TEST(ManifestYaml, AnchorsAliasesAndMergeKeysAreRefused) {
  YamlFile f = parse_yaml("base: &b {x: 1}\ncopy: *b\nmerged:\n  <<: *b\n", "a.yaml");
  std::string all = errors_of(f);
  EXPECT_THAT(all, HasSubstr("a.yaml:1:7: anchor &b: anchors and aliases are not supported"));
  EXPECT_THAT(all, HasSubstr("a.yaml:2:7: copy: aliases (*name) are not supported"));
  EXPECT_THAT(all, HasSubstr("a.yaml:4:3: merge keys (<<) are not supported"));
  EXPECT_THAT(all, HasSubstr("a.yaml:4:7: merged.<<: aliases"));
}

TEST(ManifestYaml, BillionLaughsIsNotExpanded) {
  std::string text =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    text += std::string(1, c) + ": &" + c + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev +
            ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n";
  }
  YamlFile f = parse_yaml(text, "lol.yaml");
  ASSERT_EQ(f.documents.size(), 1u);
  // Every alias is an error and becomes null; nothing is copied.
  EXPECT_EQ(f.documents[0].value["j"].size(), 9u);
  EXPECT_TRUE(f.documents[0].value["j"][0].is_null());
  EXPECT_EQ(f.errors.size(), 10u + 81u);
}

TEST(ManifestYaml, DepthAndNodeLimits) {
  std::string deep = "v: " + std::string(40, '[') + std::string(40, ']') + "\n";
  YamlFile f = parse_yaml(deep, "deep.yaml");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_THAT(f.errors[0].to_string(), HasSubstr("nesting too deep"));
  EXPECT_TRUE(f.documents.empty());

  std::string wide = "v: [";
  for (int i = 0; i < kMaxNodes + 10; ++i)
    wide += "1,";
  wide += "1]\n";
  YamlFile g = parse_yaml(wide, "wide.yaml");
  ASSERT_EQ(g.errors.size(), 1u);
  EXPECT_THAT(g.errors[0].to_string(), HasSubstr("too many nodes"));

  std::string huge(kMaxManifestBytes + 1, '#');
  YamlFile h = parse_yaml(huge, "huge.yaml");
  ASSERT_EQ(h.errors.size(), 1u);
  EXPECT_THAT(h.errors[0].message, HasSubstr("file too large"));
}

TEST(ManifestYaml, TabIndentationGetsAClearMessage) {
  YamlFile f = parse_yaml("spec:\n  a: 1\n\tb: 2\n", "tab.yaml");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_THAT(f.errors[0].to_string(),
              HasSubstr("tab.yaml:3:1: tab character in indentation; YAML indentation must use "
                        "spaces"));
  // A tab after a value is fine.
  YamlFile g = parse_yaml("a: 1\t# comment\n", "ok.yaml");
  EXPECT_TRUE(g.errors.empty()) << errors_of(g);
}

TEST(ManifestYaml, SourceMapRecordsValuesAndKeys) {
  YamlFile f = parse_yaml("---\nspec:\n  list:\n    - {k: v}\n    - 2\n", "m.yaml");
  ASSERT_EQ(f.documents.size(), 1u);
  const YamlDocument& d = f.documents[0];
  EXPECT_EQ(d.start.line, 2);
  EXPECT_EQ(d.position_of("/spec/list/0/k").line, 4);
  EXPECT_EQ(d.position_of("/spec/list/0/k").column, 11);
  EXPECT_EQ(d.key_position_of("/spec/list/0/k").column, 8);
  EXPECT_EQ(d.position_of("/spec/list/1").line, 5);
  EXPECT_EQ(d.key_position_of("/spec").line, 2);
  // Missing pointers fall back to the nearest ancestor.
  EXPECT_EQ(d.position_of("/spec/list/0/missing").line, 4);
  EXPECT_EQ(dotted_path("/spec/list/0/k", d.value), "spec.list[0].k");
}

TEST(ManifestYaml, CrlfLineEndsKeepPositions) {
  YamlFile f = parse_yaml("a: {x: 1}\r\nb: [2]\r\nc: yes\r\n", "crlf.yaml");
  ASSERT_EQ(f.errors.size(), 1u) << errors_of(f);
  EXPECT_EQ(f.errors[0].where->line, 3);
  EXPECT_EQ(f.errors[0].where->column, 4);
  ASSERT_EQ(f.documents.size(), 1u);
  EXPECT_EQ(f.documents[0].value["b"][0], nlohmann::json(2));
}

TEST(ManifestYaml, NullDocumentsAreSkipped) {
  YamlFile f = parse_yaml("---\n---\na: 1\n---\n...\n", "n.yaml");
  EXPECT_TRUE(f.errors.empty()) << errors_of(f);
  ASSERT_EQ(f.documents.size(), 1u);
  EXPECT_EQ(f.documents[0].value["a"], nlohmann::json(1));
}

// yaml-cpp 0.7 loops forever on a ',' where a block node should start (jbeder/yaml-cpp#1040);
// found again by tests/fuzz/manifest_loader. The loader must stop with a positioned error.
TEST(ManifestYaml, StrayCommaDoesNotHangTheParser) {
  for (const char* text : {",", ",,", "a: 1\n---\n,\n", "# c\n  ,\n"}) {
    auto parsed = std::async(std::launch::async, [text] { return parse_yaml(text, "c.yaml"); });
    if (parsed.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "parse_yaml hangs on " << ::testing::PrintToString(text);
      std::_Exit(1);  // the parser thread cannot be stopped
    }
    YamlFile f = parsed.get();
    ASSERT_FALSE(f.errors.empty()) << text;
    EXPECT_THAT(f.errors[0].to_string(), HasSubstr("c.yaml:")) << text;
    EXPECT_THAT(f.errors[0].to_string(), HasSubstr("YAML syntax error")) << text;
  }
}

// Found by tests/fuzz/manifest_loader: a byte that is not UTF-8 in a value made the loader throw
// nlohmann's type_error.316 ("internal error"). It is a manifest error with its position.
TEST(ManifestYaml, InvalidUtf8IsAPositionedError) {
  for (const char* text : {"a: 1\nb: x\xFFy\n", "a: 1\nb: x\xC0\x80\n", "a: 1\nb: x\xED\xA0\x80\n",
                           "a: 1\nb: x\xE2\x82\n"}) {
    YamlFile f = parse_yaml(text, "u.yaml");
    ASSERT_EQ(f.errors.size(), 1u) << errors_of(f);
    EXPECT_THAT(f.errors[0].to_string(), HasSubstr("u.yaml:2:5"));
    EXPECT_THAT(f.errors[0].to_string(), HasSubstr("invalid UTF-8"));
  }
  YamlFile ok = parse_yaml("a: \"gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x94\x91\"\n", "u.yaml");
  EXPECT_TRUE(ok.errors.empty()) << errors_of(ok);
}

}  // namespace
}  // namespace hsmctl::manifest
