// SPDX-License-Identifier: Apache-2.0
// family::Loader and families::load (issue 14, WP-E3b): manifest/ validates against the kind
// table it is given (not a table of its own), hands each valid document to the loader of the
// family that owns its kind, and orders what the loaders report like the CLI always printed it:
// file by file, by position within a file, cross-document findings last, echoed input escaped.

#include "hsmctl/families/load.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace hsmctl::families {
namespace {

constexpr const char* kWidgetSchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["apiVersion", "kind", "metadata", "spec"],
  "additionalProperties": false,
  "properties": {
    "apiVersion": {"const": "hsmctl.dev/v1alpha1"},
    "kind": {"const": "Widget"},
    "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
    "spec": {"type": "object"}
  }
})";

class NamedUnit final : public family::Unit {
 public:
  explicit NamedUnit(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  const char* noun() const override { return "widget"; }
  bool takes_device_uri() const override { return false; }
  Result<std::unique_ptr<family::PreparedUnit>> prepare(family::RunContext& /*context*/) override {
    return make_error(Errc::kInternal, "not for this test");
  }

 private:
  std::string name_;
};

/// What the widget loader saw, and what it reports: spec.bad -> an error at the value,
/// spec.throw -> an exception (a converter that disagrees with its schema), spec.late -> an error
/// in finish() filed under the document's file, and finish() always adds one cross-document
/// error without a file when `cross_error` is set.
struct Seen {
  std::vector<std::string> documents;  ///< "file:kind:name:line"
  bool cross_error = false;
};

class WidgetLoader final : public family::Loader {
 public:
  explicit WidgetLoader(Seen& seen) : seen_(seen) {}
  void accept(const manifest::DocView& doc, manifest::Diagnostics& diagnostics) override {
    const manifest::DocNode root = doc.root();
    const std::string name = root["metadata"]["name"].string();
    seen_.documents.push_back(doc.file() + ":" + doc.kind() + ":" + name + ":" +
                              std::to_string(doc.start().line));
    const manifest::DocNode spec = root["spec"];
    if (spec.contains("throw"))
      (void)spec["throw"].integer();  // a string: throws
    if (spec.contains("bad"))
      diagnostics.error(doc.error_at("/spec/bad", "bad widget"));
    if (spec.contains("late")) {
      late_.emplace_back(diagnostics.current_file(), doc.error_at("/spec/late", "late widget"));
    }
    names_.push_back(name);
  }
  std::vector<std::unique_ptr<family::Unit>> finish(manifest::Diagnostics& diagnostics) override {
    for (auto& [file, e] : late_)
      diagnostics.error(file, std::move(e));
    if (seen_.cross_error) {
      diagnostics.error(Error{Errc::kManifest, "across \x1b[31mwidgets", std::nullopt, ""});
    }
    std::vector<std::unique_ptr<family::Unit>> units;
    for (const auto& n : names_)
      units.push_back(std::make_unique<NamedUnit>(n));
    return units;
  }

 private:
  Seen& seen_;
  std::vector<std::string> names_;
  std::vector<std::pair<manifest::Diagnostics::FileId, Error>> late_;
};

class WidgetFamily final : public family::Family {
 public:
  explicit WidgetFamily(Seen& seen) : seen_(seen) {}
  std::string_view id() const override { return "widget"; }
  std::vector<family::KindSpec> kinds() const override {
    return {{"Widget", kWidgetSchema, {"/spec/secret"}, false}};
  }
  std::unique_ptr<family::Loader> loader() const override {
    return std::make_unique<WidgetLoader>(seen_);
  }

 private:
  Seen& seen_;
};

std::string widget(const std::string& name, const std::string& spec = "{}") {
  return "apiVersion: hsmctl.dev/v1alpha1\nkind: Widget\nmetadata: {name: " + name +
         "}\nspec: " + spec + "\n";
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::vector<std::string> lines(const std::vector<Error>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(e.to_string());
  return out;
}

TEST(FamilyLoader, ValidatesWithTheTableItIsGivenAndListsItsKinds) {
  Seen seen;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  auto r = load_text(widget("a") +
                         "---\napiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\n"
                         "metadata: {name: b}\nspec: {}\n",
                     "w.yaml", table);
  EXPECT_EQ(lines(r.errors),
            (std::vector<std::string>{"w.yaml:7:7: kind: unknown kind \"PicoHSM\" (supported: "
                                      "Widget)"}));
  EXPECT_EQ(seen.documents, (std::vector<std::string>{"w.yaml:Widget:a:1"}));
  EXPECT_EQ(r.documents, 1u);
  EXPECT_TRUE(r.units.empty());  // an error anywhere: no unit of any family
}

TEST(FamilyLoader, DocumentsFailingTheirSchemaNeverReachTheLoader) {
  Seen seen;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  auto r = load_text(widget("a", "{}\nextra: 1") + "---\n" + widget("b"), "w.yaml", table);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "w.yaml:5:1: extra: unknown field; expected one of: apiVersion, kind, metadata, spec");
  EXPECT_EQ(seen.documents, (std::vector<std::string>{"w.yaml:Widget:b:7"}));
}

TEST(FamilyLoader, UnitsOfACleanLoadInManifestOrder) {
  Seen seen;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  write("b.yaml", widget("w3") + "---\n" + widget("w2"));
  write("a.yaml", widget("w1"));
  auto r = load({"b.yaml", "a.yaml"}, table);
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_EQ(r.documents, 3u);
  std::vector<std::string> names;
  for (const auto& u : r.units)
    names.push_back(u->name());
  EXPECT_EQ(names, (std::vector<std::string>{"w3", "w2", "w1"}));
}

TEST(FamilyLoader, ErrorsFileByFileByPositionThenCrossDocumentOnesEscaped) {
  Seen seen;
  seen.cross_error = true;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  // finish() files "late" under one.yaml: it sorts among one.yaml's errors by position.
  write("one.yaml", widget("a", "{late: 1}") + "---\n" + widget("b", "{bad: 1}"));
  write("two.yaml", widget("c", "{bad: 1}"));
  auto r = load({"one.yaml", "two.yaml"}, table);
  EXPECT_EQ(lines(r.errors), (std::vector<std::string>{
                                 "one.yaml:4:14: spec.late: late widget",
                                 "one.yaml:9:13: spec.bad: bad widget",
                                 "two.yaml:4:13: spec.bad: bad widget",
                                 "across \\e[31mwidgets",
                             }));
}

TEST(FamilyLoader, AConverterThatThrowsIsAnInternalErrorAtItsDocument) {
  Seen seen;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  auto r = load_text(widget("a") + "---\n" + widget("b", "{throw: text}"), "w.yaml", table);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, Errc::kInternal);
  EXPECT_EQ(r.errors[0].where->line, 6);
  EXPECT_EQ(r.errors[0].message.rfind("internal error: ", 0), 0u) << r.errors[0].message;
}

TEST(DocView, ReadsValuesPositionsAndPaths) {
  Seen seen;
  WidgetFamily widgets(seen);
  const family::Family* table[] = {&widgets};
  class Probe final : public family::Loader {
   public:
    void accept(const manifest::DocView& doc, manifest::Diagnostics& /*diagnostics*/) override {
      const manifest::DocNode spec = doc.root()["spec"];
      EXPECT_TRUE(spec.is_mapping());
      EXPECT_TRUE(spec["absent"].is_null());
      EXPECT_EQ(spec["absent"].pointer(), "/spec/absent");
      EXPECT_EQ(spec.integer_or("absent", 7), 7);
      EXPECT_EQ(spec.integer_or("n", 7), 3);
      EXPECT_TRUE(spec.boolean_or("flag", false));
      EXPECT_EQ(spec.string_or("s", "x"), "text");
      std::vector<std::string> keys;
      for (const auto& [k, v] : spec["m"].members())
        keys.push_back(k + "=" + v.string());
      EXPECT_EQ(keys, (std::vector<std::string>{"a/b=1", "z=2"}));  // byte order
      const auto list = spec["l"].elements();
      ASSERT_EQ(list.size(), 2u);
      EXPECT_EQ(list[1].pointer(), "/spec/l/1");
      EXPECT_EQ(list[1]["k"].integer(), 5);
      EXPECT_EQ(doc.dotted_path(list[1]["k"].pointer()), "spec.l[1].k");
      EXPECT_EQ(doc.dotted_path(spec["m"]["a/b"].pointer()), "spec.m.a/b");
      const SourcePos p = doc.position_of("/spec/l/1/k");
      EXPECT_EQ(p.file, "d.yaml");
      EXPECT_EQ(p.line, 11);
      EXPECT_EQ(p.column, 11);
      EXPECT_EQ(doc.positions().at("spec.l[1].k").line, 11);
      ++documents;
    }
    std::vector<std::unique_ptr<family::Unit>> finish(manifest::Diagnostics& /*d*/) override {
      EXPECT_EQ(documents, 1);
      return {};
    }
    int documents = 0;
  };
  class ProbeFamily final : public family::Family {
   public:
    std::string_view id() const override { return "probe"; }
    std::vector<family::KindSpec> kinds() const override {
      return {{"Widget", kWidgetSchema, {}, false}};
    }
    std::unique_ptr<family::Loader> loader() const override { return std::make_unique<Probe>(); }
  };
  ProbeFamily probe;
  const family::Family* probe_table[] = {&probe};
  auto r = load_text(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: Widget\nmetadata: {name: d}\nspec:\n  n: 3\n"
      "  flag: true\n  s: text\n  m: {z: \"2\", a/b: \"1\"}\n  l:\n    - {k: 1}\n    - {k: 5}\n",
      "d.yaml", probe_table);
  EXPECT_TRUE(r.ok()) << r.errors.front().to_string();
  (void)table;
}

}  // namespace
}  // namespace hsmctl::families
