// SPDX-License-Identifier: Apache-2.0
// valijson implements `pattern` with std::regex; under -O2 -fsanitize=address,undefined GCC 12
// reports a false -Wmaybe-uninitialized inside <regex>/<functional> (GCC PR 105562). The pragma
// must precede every include so it covers the inlined library code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "hsmctl/manifest/detail/schema_validator.hpp"

#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/util/suggest.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string_view>

namespace hsmctl::manifest {
namespace {

using nlohmann::json;

// NOLINTNEXTLINE(bugprone-exception-escape): its implicit move can only throw on allocation
struct LoadedSchema {
  json document;  // for looking up expected types, ranges and field names
  std::unique_ptr<valijson::Schema> schema;
  std::string error;
};

LoadedSchema load_schema(std::string_view text) {
  LoadedSchema s;
  try {
    s.document = json::parse(text);
    s.schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(s.document);
    parser.populateSchema(adapter, *s.schema);
  } catch (const std::exception& e) {
    s.schema.reset();
    s.error = e.what();
  }
  return s;
}

// The schema of a kind, parsed on first use and kept by its text (the tables hold the embedded
// schemas); valijson::Schema is immutable after population and safe to share.
const LoadedSchema& schema_for(std::string_view schema_json) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<const LoadedSchema>, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(schema_json);
  if (it == cache.end()) {
    it = cache
             .emplace(std::string(schema_json),
                      std::make_unique<const LoadedSchema>(load_schema(schema_json)))
             .first;
  }
  return *it->second;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

const json* resolve_ref(const json& root, const json* node) {
  for (int guard = 0; node != nullptr && node->is_object() && node->contains("$ref") && guard < 8;
       ++guard) {
    const std::string ref = (*node)["$ref"].get<std::string>();
    if (!starts_with(ref, "#/"))
      return nullptr;
    try {
      node = &root.at(json::json_pointer(ref.substr(1)));
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  return node;
}

// The subschema that governs the instance at `pointer` (properties/items/additionalProperties
// and local $refs only, which is all hsmctl's schemas use).
const json* subschema_at(const json& root, const std::string& pointer) {
  const json* node = resolve_ref(root, &root);
  for (const std::string& token : split_json_pointer(pointer)) {
    if (node == nullptr || !node->is_object())
      return nullptr;
    if (node->contains("properties") && (*node)["properties"].contains(token)) {
      node = &(*node)["properties"][token];
    } else if (node->contains("items") && (*node)["items"].is_object()) {
      node = &(*node)["items"];
    } else if (node->contains("additionalProperties") &&
               (*node)["additionalProperties"].is_object()) {
      node = &(*node)["additionalProperties"];
    } else {
      return nullptr;
    }
    node = resolve_ref(root, node);
  }
  return node;
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "mapping";
    default:
      return "value";
  }
}

std::string schema_type_name(const std::string& t) {
  if (t == "object")
    return "a mapping";
  if (t == "array")
    return "a list";
  if (t == "integer")
    return "an integer";
  if (t == "boolean")
    return "a boolean (true or false)";
  if (t == "string")
    return "a string";
  if (t == "number")
    return "a number";
  return t;
}

std::string render_value(const json& v) {
  if (v.is_object())
    return "a mapping";
  if (v.is_array())
    return "a list";
  std::string s = v.dump();
  if (s.size() > 40)
    s = s.substr(0, 37) + "...";
  return s;
}

// "got string "7"", or just "got string" for values that may be secrets.
std::string got(const json& v, bool sensitive) {
  if (v.is_object() || v.is_array() || v.is_null() || sensitive)
    return "got " + type_name(v);
  return "got " + type_name(v) + " " + render_value(v);
}

std::string number_text(const json& n) {
  if (n.is_number_float()) {
    double d = n.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 1e15)
      return std::to_string(static_cast<long long>(d));
  }
  return n.dump();
}

// The quoted name inside a valijson message: "... 'colour'." -> colour.
std::string quoted_name(const std::string& description) {
  std::size_t end = description.rfind('\'');
  if (end == std::string::npos || end == 0)
    return {};
  std::size_t begin = description.rfind('\'', end - 1);
  if (begin == std::string::npos)
    return {};
  return description.substr(begin + 1, end - begin - 1);
}

std::string suggestion(const json* parent_schema, const std::string& name) {
  if (parent_schema == nullptr || !parent_schema->contains("properties"))
    return {};
  std::vector<std::string> all;
  for (const auto& [key, unused] : (*parent_schema)["properties"].items()) {
    (void)unused;
    all.push_back(key);
  }
  const std::string best = util::closest_match(name, all);
  if (!best.empty())
    return "; did you mean '" + best + "'?";
  std::string list;
  for (const auto& k : all)
    list += (list.empty() ? "" : ", ") + k;
  return "; expected one of: " + list;
}

class Mapper {
 public:
  Mapper(const YamlDocument& doc, const std::string& file, const json& schema,
         const std::vector<KindSchema>& kinds)
      : doc_(doc), file_(file), schema_(schema), kinds_(kinds) {}

  void add(const std::vector<std::string>& context, const std::string& description) {
    // valijson also reports every enclosing object/array/conditional that failed because of a
    // child; those repeat the real error.
    if (starts_with(description, "Failed to validate against schema associated with property") ||
        starts_with(description, "Failed to validate item #") ||
        starts_with(description, "Failed to validate against a conditional schema") ||
        starts_with(description, "Failed to validate against child schema") ||
        starts_with(description, "Failed to validate against any child schemas") ||
        starts_with(description, "Failed to validate against dependent schema") ||
        starts_with(description, "Failed to validate against additional properties schema")) {
      return;
    }
    std::string pointer = to_pointer(context);
    for (const auto& p : doc_.poisoned) {
      if (pointer == p || starts_with(pointer, p + "/"))
        return;
    }
    const json* value = value_at(pointer);
    const json* sub = subschema_at(schema_, pointer);
    const bool sensitive = is_sensitive_pointer(pointer, kinds_);

    if (starts_with(description, "Missing required property")) {
      std::string name = quoted_name(description);
      std::string child = pointer + "/" + escape_pointer_token(name);
      Pos pos = pointer.empty() ? doc_.start : doc_.key_position_of(pointer);
      emit(pos, child, "required field is missing");
      return;
    }
    if (starts_with(description, "Object contains a property that could not be validated")) {
      // valijson names only the first unknown property of an object; report every one.
      std::vector<std::string> unknown;
      if (value != nullptr && value->is_object() && sub != nullptr) {
        for (const auto& [key, unused] : value->items()) {
          (void)unused;
          if (!sub->contains("properties") || !(*sub)["properties"].contains(key)) {
            unknown.push_back(key);
          }
        }
      }
      if (unknown.empty())
        unknown.push_back(quoted_name(description));
      for (const std::string& name : unknown) {
        std::string child = pointer + "/" + escape_pointer_token(name);
        emit(doc_.key_position_of(child), child, "unknown field" + suggestion(sub, name));
      }
      return;
    }
    if (value == nullptr) {
      emit(doc_.position_of(pointer), pointer, lower_first(description));
      return;
    }
    Pos pos = doc_.position_of(pointer);

    if (starts_with(description, "Value type not permitted")) {
      std::string expected = "?";
      if (sub != nullptr && sub->contains("type") && (*sub)["type"].is_string()) {
        expected = (*sub)["type"].get<std::string>();
      }
      std::string expected_text = schema_type_name(expected);
      if (sub != nullptr && sub->contains("type") && (*sub)["type"].is_array()) {
        // "type": ["integer", "array"] (publicKeyAuth.keys): "an integer or a list".
        expected_text.clear();
        for (const auto& t : (*sub)["type"]) {
          if (t.is_string())
            expected_text +=
                (expected_text.empty() ? "" : " or ") + schema_type_name(t.get<std::string>());
        }
      }
      if (is_pin_source(pointer) && value->is_primitive()) {
        emit(pos, pointer,
             "inline secret values are not allowed; reference the secret, e.g. {secret: "
             "\"env:NAME\"} (or file:/absolute/path, store:NAME, prompt), or use {generate: {}}");
        return;
      }
      std::string msg = "expected " + expected_text + ", " + got(*value, sensitive);
      if (expected == "string" && (value->is_number() || value->is_boolean())) {
        msg += " (quote the value in YAML)";
      }
      emit(pos, pointer, msg);
      return;
    }
    if (starts_with(description, "Expected number")) {
      if (sub != nullptr && sub->contains("minimum") && sub->contains("maximum")) {
        emit(pos, pointer,
             "must be between " + number_text((*sub)["minimum"]) + " and " +
                 number_text((*sub)["maximum"]) + ", " + got(*value, sensitive));
      } else {
        emit(pos, pointer, lower_first(description) + ", " + got(*value, sensitive));
      }
      return;
    }
    if (starts_with(description, "Failed to match against any enum values")) {
      std::string list;
      if (sub != nullptr && sub->contains("enum")) {
        for (const auto& e : (*sub)["enum"])
          list += (list.empty() ? "" : ", ") + e.dump();
      }
      emit(pos, pointer, "must be one of " + list + ", " + got(*value, sensitive));
      return;
    }
    if (starts_with(description, "Failed to match regex")) {
      emit(pos, pointer, pattern_message(pointer, *value));
      return;
    }
    if (ends_with_token(pointer, "device") &&
        description.find("exactly one child schema") != std::string::npos) {
      // spec.device: oneOf serial / reader (attestation may come with either).
      emit(pos, pointer, "exactly one of 'serial' or 'reader' is required");
      return;
    }
    if (starts_with(description, "Object should have no more than") ||
        starts_with(description, "Object should have no fewer than")) {
      if (ends_with_token(pointer, "device")) {
        emit(pos, pointer, "exactly one of 'serial' or 'reader' is required");
        return;
      }
      if (is_pin_source(pointer)) {
        emit(pos, pointer, "exactly one of 'secret' or 'generate' is required");
        return;
      }
    }
    if (value->is_array() && sub != nullptr && sub->contains("minItems") &&
        sub->contains("maxItems") && description.find("rray") != std::string::npos) {
      emit(pos, pointer,
           "must have " + number_text((*sub)["minItems"]) + " to " +
               number_text((*sub)["maxItems"]) + " entries, got " + std::to_string(value->size()));
      return;
    }
    if (value->is_string() && sub != nullptr && description.find("tring") != std::string::npos &&
        (sub->contains("maxLength") || sub->contains("minLength"))) {
      std::string msg = sub->contains("maxLength")
                            ? "must be at most " + number_text((*sub)["maxLength"]) + " characters"
                            : "must not be empty";
      emit(pos, pointer, msg);
      return;
    }
    emit(pos, pointer, lower_first(description));
  }

  // valijson 1.0 checks propertyNames but records no message; check key patterns here.
  void check_property_names(const std::string& pointer, const json& value) {
    if (value.is_object()) {
      const json* sub = subschema_at(schema_, pointer);
      if (sub != nullptr && sub->contains("propertyNames") &&
          (*sub)["propertyNames"].contains("pattern")) {
        const json& names = (*sub)["propertyNames"];
        const std::regex pattern(names["pattern"].get<std::string>(), std::regex::ECMAScript);
        const std::size_t max_len = names.value("maxLength", std::size_t{1024});
        for (const auto& [key, unused] : value.items()) {
          (void)unused;
          if (!std::regex_search(key, pattern) || key.size() > max_len) {
            std::string child = pointer + "/" + escape_pointer_token(key);
            emit(doc_.key_position_of(child), child,
                 "invalid key: use letters, digits, '.', '_', '-' and '/', starting and ending "
                 "with a letter or digit, at most " +
                     std::to_string(max_len) + " characters");
          }
        }
      }
      for (const auto& [key, child] : value.items()) {
        check_property_names(pointer + "/" + escape_pointer_token(key), child);
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        check_property_names(pointer + "/" + std::to_string(i), value[i]);
      }
    }
  }

  std::vector<Error> take() { return std::move(errors_); }

 private:
  static bool ends_with_token(const std::string& pointer, const std::string& token) {
    return pointer.size() >= token.size() + 1 &&
           pointer.compare(pointer.size() - token.size() - 1, std::string::npos, "/" + token) == 0;
  }

  static bool is_pin_source(const std::string& pointer) {
    return pointer == "/spec/userPin" || pointer == "/spec/soPin";
  }

  static std::string lower_first(std::string s) {
    while (!s.empty() && (s.back() == '.' || s.back() == ' '))
      s.pop_back();
    // An acronym ("PIN must ...") keeps its capital.
    const bool acronym = s.size() > 1 && s[1] >= 'A' && s[1] <= 'Z';
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z' && !acronym) {
      s[0] = static_cast<char>(s[0] - 'A' + 'a');
    }
    return s;
  }

  std::string pattern_message(const std::string& pointer, const json& value) const {
    if (pointer == "/spec/device/serial") {
      return "must be 16 hexadecimal digits (the 8-byte chip ID), " + got(value, false);
    }
    if (pointer == "/spec/userPin/secret" || pointer == "/spec/soPin/secret") {
      // Never echo: a value that is not a reference is most likely the PIN itself.
      std::string v = value.is_string() ? value.get<std::string>() : std::string();
      if (starts_with(v, "file:"))
        return "file: paths must be absolute (file:/path/to/file)";
      if (starts_with(v, "env:"))
        return "env: needs a variable name ([A-Za-z_][A-Za-z0-9_]*)";
      if (starts_with(v, "store:"))
        return "store: needs an entry name ([A-Za-z0-9._:/-]+)";
      return "not a secret reference; use env:NAME, file:/absolute/path, store:NAME or prompt "
             "(inline PIN values are not allowed in manifests)";
    }
    if (pointer == "/metadata/name") {
      return "must consist of lower-case letters, digits, '-' and '.', and start and end with a "
             "letter or digit, " +
             got(value, false);
    }
    return "does not match the required pattern, " +
           got(value, is_sensitive_pointer(pointer, kinds_));
  }

  // valijson context tokens: "<root>", "[spec]", "[0]"; the tokens are not escaped.
  std::string to_pointer(const std::vector<std::string>& context) const {
    std::string pointer;
    for (const std::string& token : context) {
      if (token == "<root>")
        continue;
      std::string t = token;
      if (t.size() >= 2 && t.front() == '[' && t.back() == ']')
        t = t.substr(1, t.size() - 2);
      pointer += "/" + escape_pointer_token(t);
    }
    return pointer;
  }

  const json* value_at(const std::string& pointer) const {
    try {
      return &doc_.value.at(json::json_pointer(pointer));
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  void emit(Pos pos, const std::string& pointer, std::string message) {
    errors_.push_back(Error{Errc::kManifest, std::move(message),
                            SourcePos{file_, pos.line, pos.column},
                            dotted_path(pointer, doc_.value)});
  }

  const YamlDocument& doc_;
  const std::string& file_;
  const json& schema_;
  const std::vector<KindSchema>& kinds_;
  std::vector<Error> errors_;
};

Error error_at(const std::string& file, Pos pos, std::string path, std::string message) {
  return Error{Errc::kManifest, std::move(message), SourcePos{file, pos.line, pos.column},
               std::move(path)};
}

}  // namespace

bool is_sensitive_pointer(const std::string& pointer, const std::vector<KindSchema>& kinds) {
  // Everything under a credential field: the PIN fields themselves (where an inline value would
  // be the PIN), their references and their generate parameters (a PIN pasted into `charset` or
  // `length` is still a PIN), and anything under a field whose name says it holds a credential.
  for (const auto& k : kinds) {
    for (const std::string& p : k.sensitive_pointers) {
      if (starts_with(pointer, p))
        return true;
    }
  }
  // Field names that mention a credential but hold none (flags, counts, labels, paths).
  static const std::set<std::string> kNotSecret = {
      "pinretries",      "transportpin", "transportpinneverclears", "combinedwithpin", "tokenlabel",
      "secretsfilemode", "secretspath"};
  std::size_t begin = 0;
  while (begin < pointer.size()) {
    std::size_t end = pointer.find('/', begin + 1);
    if (end == std::string::npos)
      end = pointer.size();
    std::string segment;
    for (std::size_t i = begin; i < end; ++i) {
      if (pointer[i] != '/') {
        segment += static_cast<char>(std::tolower(static_cast<unsigned char>(pointer[i])));
      }
    }
    if (kNotSecret.count(segment) == 0) {
      for (const char* word : {"pin", "password", "passphrase", "secret", "puk"}) {
        if (segment.find(word) != std::string::npos)
          return true;
      }
    }
    begin = end;
  }
  return false;
}

std::vector<Error> validate_document(const YamlDocument& doc, const std::string& file_name,
                                     const std::vector<KindSchema>& kinds) {
  std::vector<Error> errors;
  const json& v = doc.value;
  if (!v.is_object()) {
    errors.push_back(error_at(file_name, doc.start, "",
                              "a manifest document must be a mapping with apiVersion, kind, "
                              "metadata and spec, got " +
                                  type_name(v)));
    return errors;
  }
  // Dispatch first: without a known apiVersion and kind there is no schema to report against.
  bool dispatch_ok = true;
  auto check_field = [&](const char* field, const char* expected, const std::string& what) {
    std::string ptr = std::string("/") + field;
    if (!v.contains(field)) {
      errors.push_back(error_at(file_name, doc.start, field, "required field is missing"));
      dispatch_ok = false;
      return;
    }
    if (doc.poisoned.count(ptr) != 0) {
      dispatch_ok = false;
      return;
    }
    const json& f = v[field];
    if (!f.is_string() || f.get<std::string>() != expected) {
      errors.push_back(error_at(file_name, doc.position_of(ptr), field,
                                what + " " + render_value(f) + " (supported: " + expected + ")"));
      dispatch_ok = false;
    }
  };
  check_field("apiVersion", kApiVersion, "unsupported apiVersion");
  // kind: one of the supported kinds (each has its own schema).
  std::string kind;
  std::size_t kind_index = static_cast<std::size_t>(-1);
  if (!v.contains("kind")) {
    errors.push_back(error_at(file_name, doc.start, "kind", "required field is missing"));
    dispatch_ok = false;
  } else if (doc.poisoned.count("/kind") != 0) {
    dispatch_ok = false;
  } else {
    for (std::size_t i = 0; v["kind"].is_string() && i < kinds.size(); ++i) {
      if (v["kind"].get<std::string>() == kinds[i].kind)
        kind_index = i;
    }
    if (kind_index < kinds.size()) {
      kind = v["kind"].get<std::string>();
    } else {
      std::string supported;
      for (const auto& k : kinds)
        supported += (supported.empty() ? "" : ", ") + std::string(k.kind);
      errors.push_back(
          error_at(file_name, doc.position_of("/kind"), "kind",
                   "unknown kind " + render_value(v["kind"]) + " (supported: " + supported + ")"));
      dispatch_ok = false;
    }
  }
  if (!dispatch_ok)
    return errors;

  const LoadedSchema& schema = schema_for(kinds[kind_index].schema_json);
  if (!schema.schema) {
    errors.push_back(
        error_at(file_name, doc.start, "",
                 "internal error: embedded " + kind + " schema is invalid: " + schema.error));
    errors.back().code = Errc::kInternal;
    return errors;
  }
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(v);
  try {
    validator.validate(*schema.schema, target, &results);
  } catch (const std::exception& e) {
    errors.push_back(
        error_at(file_name, doc.start, "",
                 std::string("internal error: schema validation failed: ") + e.what()));
    errors.back().code = Errc::kInternal;
    return errors;
  }
  Mapper mapper(doc, file_name, schema.document, kinds);
  valijson::ValidationResults::Error e;
  while (results.popError(e))
    mapper.add(e.context, e.description);
  mapper.check_property_names("", v);
  for (auto& err : mapper.take())
    errors.push_back(std::move(err));
  return errors;
}

}  // namespace hsmctl::manifest
