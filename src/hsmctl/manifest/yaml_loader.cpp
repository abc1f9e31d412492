// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/detail/yaml_loader.hpp"

#include "hsmctl/util/text.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <utility>

namespace hsmctl::manifest {
namespace {

// The whole document is built from parser events in one pass instead of going through
// YAML::Node: the events carry every mark, see duplicate keys (yaml-cpp's Node silently keeps
// both), and see aliases before anything is expanded, so a "billion laughs" stream costs nothing.

Pos to_pos(const YAML::Mark& m) {
  return Pos{m.line + 1, m.column + 1};
}

// Thrown from the event handler to stop the stream after a problem the parser cannot continue
// past (limits, complex keys). The error has already been recorded.
struct StopParsing {};

// NOLINTNEXTLINE(bugprone-exception-escape): its implicit move can only throw on allocation
struct Frame {
  bool is_map = false;
  nlohmann::json value;
  std::string pointer;
  // Map state: a key was read and its value is expected next.
  bool have_key = false;
  std::string key;
  bool discard_value = false;  // duplicate key: parse the value, then drop it
  std::map<std::string, Pos> seen;
  std::size_t next_index = 0;
};

// YAML 1.2 core-schema resolution of a plain scalar, or the reason it is refused.
struct Resolved {
  nlohmann::json value;
  std::string error;  // non-empty: refused (the value is then kept as a string)
};

// Hand-written matchers instead of std::regex: GCC 12 warns (-Wmaybe-uninitialized) inside
// <regex> under -fsanitize builds, and these are simple enough.
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view strip_sign(std::string_view s) {
  if (!s.empty() && (s.front() == '+' || s.front() == '-'))
    s.remove_prefix(1);
  return s;
}

bool all_in(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

// [-+]?[0-9]+
bool is_int(std::string_view v) {
  return all_in(strip_sign(v), "0123456789");
}

// [-+]?0x[0-9a-fA-F_]+ | 0o[0-7_]+ | 0b[01_]+ (YAML 1.1 and 1.2 radix forms)
bool is_radix(std::string_view v) {
  v = strip_sign(v);
  if (v.size() < 3 || v[0] != '0')
    return false;
  std::string_view rest = v.substr(2);
  switch (v[1]) {
    case 'x':
    case 'X':
      return all_in(rest, "0123456789abcdefABCDEF_");
    case 'o':
    case 'O':
      return all_in(rest, "01234567_");
    case 'b':
    case 'B':
      return all_in(rest, "01_");
    default:
      return false;
  }
}

// YAML 1.1 numbers with '_' separators: 1_000, 1_000.5
bool is_underscore_number(std::string_view v) {
  v = strip_sign(v);
  if (v.empty() || !is_digit(v[0]) || v.find('_') == std::string_view::npos)
    return false;
  if (!all_in(v, "0123456789_."))
    return false;
  return std::count(v.begin(), v.end(), '.') <= 1;
}

// YAML 1.1 base-60 numbers: 1:30, 190:20:30.15
bool is_sexagesimal(std::string_view v) {
  v = strip_sign(v);
  std::size_t colon = v.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_digit(v[0]))
    return false;
  if (!all_in(v.substr(0, colon), "0123456789_"))
    return false;
  std::string_view rest = v.substr(colon + 1);
  while (true) {
    std::size_t next = rest.find(':');
    std::string_view part = rest.substr(0, next);
    if (next == std::string_view::npos) {
      std::size_t dot = part.find('.');
      if (dot != std::string_view::npos) {
        std::string_view frac = part.substr(dot + 1);
        if (!frac.empty() && !all_in(frac, "0123456789_"))
          return false;
        part = part.substr(0, dot);
      }
    }
    bool ok = (part.size() == 1 && is_digit(part[0])) ||
              (part.size() == 2 && part[0] >= '0' && part[0] <= '5' && is_digit(part[1]));
    if (!ok)
      return false;
    if (next == std::string_view::npos)
      return true;
    rest = rest.substr(next + 1);
  }
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_float(std::string_view v) {
  v = strip_sign(v);
  std::size_t i = 0;
  std::size_t int_digits = 0;
  while (i < v.size() && is_digit(v[i]))
    ++i, ++int_digits;
  std::size_t frac_digits = 0;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && is_digit(v[i]))
      ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0)
    return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-'))
      ++i;
    std::size_t exp_digits = 0;
    while (i < v.size() && is_digit(v[i]))
      ++i, ++exp_digits;
    if (exp_digits == 0)
      return false;
  }
  return i == v.size();
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), v) != words.end();
}

Resolved resolve_plain(const std::string& v) {
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL")
    return {nullptr, {}};
  if (v == "true" || v == "True" || v == "TRUE")
    return {true, {}};
  if (v == "false" || v == "False" || v == "FALSE")
    return {false, {}};
  if (one_of(v, {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off",
                 "Off", "OFF"})) {
    return {v, "'" + v +
                   "' is a boolean in YAML 1.1 but a string in YAML 1.2; write true or false, "
                   "or quote it if you mean the text"};
  }
  if (is_int(v)) {
    std::string_view digits = v;
    if (digits.front() == '+' || digits.front() == '-')
      digits.remove_prefix(1);
    if (digits.size() > 1 && digits.front() == '0') {
      return {v,
              "integer with a leading zero (YAML 1.1 reads it as octal); remove the leading "
              "zero, or quote the value if it is text"};
    }
    std::int64_t n = 0;
    const char* begin = v.data() + (v.front() == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size()) {
      return {v, "integer out of range; quote the value if it is text"};
    }
    return {n, {}};
  }
  if (is_radix(v)) {
    return {v,
            "hexadecimal, octal and binary integer literals are not supported; write a decimal "
            "number, or quote the value if it is text (e.g. a serial number)"};
  }
  if (is_underscore_number(v) || is_sexagesimal(v)) {
    return {v, "YAML 1.1 reads this plain scalar as a number; quote the value if it is text"};
  }
  if (one_of(strip_sign(v), {".inf", ".Inf", ".INF"}) || one_of(v, {".nan", ".NaN", ".NAN"})) {
    return {v, "infinity and NaN are not supported; quote the value if it is text"};
  }
  if (is_float(v)) {
    try {
      return {std::stod(v), {}};
    } catch (const std::exception&) {
      return {v, "number out of range; quote the value if it is text"};
    }
  }
  return {v, {}};
}

class Builder : public YAML::EventHandler {
 public:
  Builder(const std::string& file, YamlFile& out) : file_(file), out_(out) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 (Debian 12) never consumes a token it cannot start a node with (a ',' in
    // block context, jbeder/yaml-cpp#1040): every HandleNextDocument() then reports another
    // empty document at the same place, forever. A document cannot start where the previous
    // one did, so that is the stall: report it as the syntax error it is and stop.
    if (last_start_pos_ && *last_start_pos_ == mark.pos) {
      error(mark, "", "YAML syntax error: unexpected character here (a ',' outside [ ] or { }?)");
      throw StopParsing{};
    }
    last_start_pos_ = mark.pos;
    doc_ = YamlDocument{};
    doc_.start = to_pos(mark);
    stack_.clear();
    root_set_ = false;
    root_is_null_ = false;
  }

  void OnDocumentEnd() override {
    if (root_set_ && !root_is_null_)
      out_.documents.push_back(std::move(doc_));
    doc_ = YamlDocument{};
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    if (key_expected()) {
      error(mark, "", "empty mapping key");
      begin_key(mark, "");
      return;
    }
    std::string ptr = value_pointer(mark);
    if (stack_.empty())
      root_is_null_ = true;
    finish_value(nullptr, ptr);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    count(mark);
    if (key_expected()) {
      error(mark, "", "aliases (*name) are not supported in manifests");
      throw StopParsing{};
    }
    std::string ptr = value_pointer(mark);
    error(mark, ptr, "aliases (*name) are not supported in manifests; write the value out");
    doc_.poisoned.insert(ptr);
    finish_value(nullptr, ptr);
  }

  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    // Reported once here; the node carrying the anchor is converted normally.
    error(mark, "", "anchor &" + name + ": anchors and aliases are not supported in manifests");
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& value) override {
    count(mark);
    if (key_expected()) {
      if (tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:str") {
        error(mark, "", "explicit tags are not supported on mapping keys");
      }
      if (value == "<<" && tag == "?") {
        error(mark, "", "merge keys (<<) are not supported in manifests");
      }
      begin_key(mark, value);
      return;
    }
    std::string ptr = value_pointer(mark);
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      finish_value(value, ptr);
      return;
    }
    if (tag != "?") {
      error(mark, ptr, "explicit tags are not supported (only !!str)");
      doc_.poisoned.insert(ptr);
      finish_value(value, ptr);
      return;
    }
    Resolved r = resolve_plain(value);
    if (!r.error.empty()) {
      error(mark, ptr, r.error);
      doc_.poisoned.insert(ptr);
    }
    finish_value(std::move(r.value), ptr);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    start_container(mark, tag, false);
  }
  void OnSequenceEnd() override { end_container(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    start_container(mark, tag, true);
  }
  void OnMapEnd() override { end_container(); }

 private:
  bool key_expected() const {
    return !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
  }

  void count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxNodes) {
      error(mark, "", "too many nodes (limit " + std::to_string(kMaxNodes) + ")");
      throw StopParsing{};
    }
  }

  void error(const YAML::Mark& mark, const std::string& pointer, std::string message) {
    Error e{
        Errc::kManifest, std::move(message), SourcePos{file_, mark.line + 1, mark.column + 1}, {}};
    e.path = pointer_path(pointer);
    out_.errors.push_back(std::move(e));
    ++doc_.error_count;
  }

  // The dotted path is only needed for messages; arrays are recognised from the frame stack.
  std::string pointer_path(const std::string& pointer) const {
    if (pointer.empty())
      return {};
    // Rebuild from the stack: each frame knows whether it is a sequence.
    std::string out;
    std::size_t pos = 1;
    std::size_t depth = 0;
    while (pos <= pointer.size()) {
      std::size_t next = pointer.find('/', pos);
      if (next == std::string::npos)
        next = pointer.size();
      std::string token = pointer.substr(pos, next - pos);
      std::string unescaped;
      for (std::size_t i = 0; i < token.size(); ++i) {
        if (token[i] == '~' && i + 1 < token.size()) {
          unescaped += token[i + 1] == '1' ? '/' : '~';
          ++i;
        } else {
          unescaped += token[i];
        }
      }
      bool in_seq = depth < stack_.size() && !stack_[depth].is_map;
      if (in_seq) {
        out += "[" + unescaped + "]";
      } else {
        if (!out.empty())
          out += ".";
        out += unescaped;
      }
      ++depth;
      pos = next + 1;
    }
    return out;
  }

  void begin_key(const YAML::Mark& mark, const std::string& key) {
    Frame& f = stack_.back();
    f.have_key = true;
    f.key = key;
    f.discard_value = false;
    std::string ptr = f.pointer + "/" + escape_pointer_token(key);
    auto [it, inserted] = f.seen.emplace(key, to_pos(mark));
    if (!inserted) {
      Error e{Errc::kManifest,
              "duplicate key '" + key + "' (first defined at line " +
                  std::to_string(it->second.line) + ", column " +
                  std::to_string(it->second.column) + ")",
              SourcePos{file_, mark.line + 1, mark.column + 1}, pointer_path(ptr)};
      out_.errors.push_back(std::move(e));
      ++doc_.error_count;
      f.discard_value = true;
      return;
    }
    doc_.keys.emplace(ptr, to_pos(mark));
  }

  // Pointer of the value about to be read, and its mark recorded.
  std::string value_pointer(const YAML::Mark& mark) {
    std::string ptr;
    if (!stack_.empty()) {
      Frame& f = stack_.back();
      ptr =
          f.pointer + "/" + (f.is_map ? escape_pointer_token(f.key) : std::to_string(f.next_index));
      if (f.is_map && f.discard_value)
        return ptr;
    } else {
      doc_.start = to_pos(mark);  // the root node, not the `---` line
    }
    doc_.values.emplace(ptr, to_pos(mark));
    return ptr;
  }

  void finish_value(nlohmann::json value, const std::string&) {
    if (stack_.empty()) {
      doc_.value = std::move(value);
      root_set_ = true;
      return;
    }
    Frame& f = stack_.back();
    if (f.is_map) {
      if (!f.discard_value)
        f.value[f.key] = std::move(value);
      f.have_key = false;
      f.discard_value = false;
    } else {
      f.value.push_back(std::move(value));
      ++f.next_index;
    }
  }

  void start_container(const YAML::Mark& mark, const std::string& tag, bool is_map) {
    count(mark);
    if (key_expected()) {
      error(mark, "", "mapping keys must be plain text, not a mapping or a sequence");
      throw StopParsing{};
    }
    if (static_cast<int>(stack_.size()) >= kMaxDepth) {
      error(mark, "", "nesting too deep (limit " + std::to_string(kMaxDepth) + ")");
      throw StopParsing{};
    }
    std::string ptr = value_pointer(mark);
    if (tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:map" &&
        tag != "tag:yaml.org,2002:seq") {
      error(mark, ptr, "explicit tags are not supported");
    }
    Frame f;
    f.is_map = is_map;
    f.value = is_map ? nlohmann::json::object() : nlohmann::json::array();
    f.pointer = ptr;
    stack_.push_back(std::move(f));
  }

  void end_container() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    finish_value(std::move(f.value), f.pointer);
  }

  const std::string& file_;
  YamlFile& out_;
  YamlDocument doc_;
  std::vector<Frame> stack_;
  bool root_set_ = false;
  bool root_is_null_ = false;
  int nodes_ = 0;
  std::optional<int> last_start_pos_;  ///< stream offset where the last document began
};

// The first tab inside a line's indentation, if any (1-based line and column).
std::optional<Pos> first_tab_indent(std::string_view text) {
  int line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    int col = 1;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      if (text[i] == '\t') {
        // Whitespace-only lines do not matter.
        std::size_t j = i;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\t'))
          ++j;
        if (j < text.size() && text[j] != '\n' && text[j] != '\r')
          return Pos{line, col};
        break;
      }
      ++i;
      ++col;
    }
    std::size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos)
      break;
    i = nl + 1;
    ++line;
  }
  return std::nullopt;
}

}  // namespace

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> split_json_pointer(const std::string& pointer) {
  std::vector<std::string> out;
  std::size_t pos = 1;
  while (!pointer.empty() && pos <= pointer.size()) {
    std::size_t next = pointer.find('/', pos);
    if (next == std::string::npos)
      next = pointer.size();
    std::string token;
    for (std::size_t i = pos; i < next; ++i) {
      if (pointer[i] == '~' && i + 1 < next) {
        token += pointer[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        token += pointer[i];
      }
    }
    out.push_back(std::move(token));
    pos = next + 1;
  }
  return out;
}

std::string dotted_path(const std::string& pointer, const nlohmann::json& root) {
  std::string out;
  const nlohmann::json* node = &root;
  for (const std::string& token : split_json_pointer(pointer)) {
    if (node != nullptr && node->is_array()) {
      out += "[" + token + "]";
      std::size_t idx = 0;
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), idx);
      node = (ec == std::errc() && p == token.data() + token.size() && idx < node->size())
                 ? &(*node)[idx]
                 : nullptr;
    } else {
      if (!out.empty())
        out += ".";
      out += token;
      node = (node != nullptr && node->is_object() && node->contains(token)) ? &(*node)[token]
                                                                             : nullptr;
    }
  }
  return out;
}

Pos YamlDocument::position_of(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    if (auto it = values.find(p); it != values.end())
      return it->second;
    if (auto it = keys.find(p); it != keys.end())
      return it->second;
    if (p.empty())
      return start;
    p.erase(p.rfind('/'));
  }
}

Pos YamlDocument::key_position_of(const std::string& pointer) const {
  if (auto it = keys.find(pointer); it != keys.end())
    return it->second;
  return position_of(pointer);
}

namespace {
// YAML streams are Unicode text restricted to the printable set (YAML 1.2 §5.1: tab, LF, CR,
// U+0020..U+007E, U+0085, U+00A0..U+D7FF, U+E000..U+FFFD, U+10000 and up). Checked before yaml-cpp
// sees the text, so that a NUL byte, a control character or bytes that are not UTF-8 are reported
// at their line and column instead of failing later (json dump) or being misread.
std::optional<Error> check_characters(std::string_view text, const std::string& file_name) {
  int line = 1;
  int column = 1;
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  auto hex = [](unsigned v, int digits) {
    std::string h;
    for (int d = digits - 1; d >= 0; --d)
      h += kHexDigits[(v >> (4 * d)) & 0xF];
    return h;
  };
  auto fail = [&](std::string message) {
    return Error{Errc::kManifest, std::move(message), SourcePos{file_name, line, column}, {}};
  };
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_decode(text, i, cp);
    if (len == 0) {
      return fail("invalid UTF-8 (byte 0x" + hex(static_cast<unsigned char>(text[i]), 2) +
                  "); a manifest must be UTF-8 text");
    }
    if (cp == 0)
      return fail("NUL byte; a manifest must be text");
    const bool printable = cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp <= 0x7E) ||
                           cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) ||
                           (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
    if (!printable) {
      return fail("control character U+" + hex(static_cast<unsigned>(cp), 4) +
                  " is not allowed in YAML (write it as an escape in a double-quoted string)");
    }
    if (cp == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return std::nullopt;
}
}  // namespace

YamlFile parse_yaml(std::string_view text, const std::string& file_name) {
  YamlFile out;
  if (text.size() > kMaxManifestBytes) {
    out.errors.push_back(
        Error{Errc::kManifest,
              "file too large (limit " + std::to_string(kMaxManifestBytes) + " bytes)",
              SourcePos{file_name, 0, 0},
              {}});
    return out;
  }
  if (auto bad = check_characters(text, file_name)) {
    out.errors.push_back(std::move(*bad));
    return out;
  }
  // yaml-cpp 0.7 trips over CRLF line ends after flow collections; dropping the CR before LF
  // keeps every line and column unchanged.
  std::string normalised;
  normalised.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
      continue;
    normalised += text[i];
  }
  std::istringstream in{std::move(normalised)};
  Builder builder(file_name, out);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const StopParsing&) {
    // Already recorded.
  } catch (const YAML::Exception& e) {
    Error err{Errc::kManifest,
              "YAML syntax error: " + e.msg,
              SourcePos{file_name, e.mark.line + 1, e.mark.column + 1},
              {}};
    // yaml-cpp's messages for tab indentation ("illegal map value", ...) do not say why.
    if (auto tab = first_tab_indent(text); tab && tab->line <= e.mark.line + 1) {
      err.message =
          "tab character in indentation; YAML indentation must use spaces (" + e.msg + ")";
      err.where->line = tab->line;
      err.where->column = tab->column;
    }
    out.errors.push_back(std::move(err));
  } catch (const std::exception& e) {
    out.errors.push_back(Error{Errc::kManifest,
                               std::string("cannot parse YAML: ") + e.what(),
                               SourcePos{file_name, 0, 0},
                               {}});
  }
  return out;
}

}  // namespace hsmctl::manifest
