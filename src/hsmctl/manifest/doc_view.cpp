// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/doc_view.hpp"

#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/util/text.hpp"

#include <algorithm>
#include <utility>

namespace hsmctl::manifest {
namespace {

using nlohmann::json;

const json* as_json(const void* value) {
  return static_cast<const json*>(value);
}

// Errors echo keys, names and paths from the input: escaped so that a key holding "\n\r" cannot
// split the error line and an escape sequence never reaches the terminal.
void escape_echoed(Error& e) {
  e.message = escape_for_display(e.message);
  e.path = escape_for_display(e.path);
  if (e.where)
    e.where->file = escape_for_display(e.where->file);
}

bool position_less(const Error& a, const Error& b) {
  int la = a.where ? a.where->line : 0;
  int lb = b.where ? b.where->line : 0;
  if (la != lb)
    return la < lb;
  int ca = a.where ? a.where->column : 0;
  int cb = b.where ? b.where->column : 0;
  return ca < cb;
}

}  // namespace

bool DocNode::is_null() const {
  return value_ == nullptr || as_json(value_)->is_null();
}
bool DocNode::is_mapping() const {
  return value_ != nullptr && as_json(value_)->is_object();
}
bool DocNode::is_list() const {
  return value_ != nullptr && as_json(value_)->is_array();
}

bool DocNode::contains(std::string_view key) const {
  return is_mapping() && as_json(value_)->contains(key);
}

DocNode DocNode::operator[](std::string_view key) const {
  const std::string child = pointer_ + "/" + escape_pointer_token(key);
  if (!contains(key))
    return DocNode(nullptr, child);
  const json& v = *as_json(value_);
  return DocNode(&v.find(key).value(), child);
}

std::vector<DocNode> DocNode::elements() const {
  std::vector<DocNode> out;
  if (!is_list())
    return out;
  const json& v = *as_json(value_);
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.push_back(DocNode(&v[i], pointer_ + "/" + std::to_string(i)));
  }
  return out;
}

std::vector<std::pair<std::string, DocNode>> DocNode::members() const {
  std::vector<std::pair<std::string, DocNode>> out;
  if (!is_mapping())
    return out;
  for (const auto& [key, value] : as_json(value_)->items()) {
    out.emplace_back(key, DocNode(&value, pointer_ + "/" + escape_pointer_token(key)));
  }
  return out;
}

// The typed reads use the library's conversions (and exceptions) as the converters did before
// they left manifest/; a null node reads like a JSON null.
std::string DocNode::string() const {
  return value_ == nullptr ? json().get<std::string>() : as_json(value_)->get<std::string>();
}
int DocNode::integer() const {
  return value_ == nullptr ? json().get<int>() : as_json(value_)->get<int>();
}
bool DocNode::boolean() const {
  return value_ == nullptr ? json().get<bool>() : as_json(value_)->get<bool>();
}

std::string DocNode::string_or(std::string_view key, std::string fallback) const {
  return contains(key) ? (*this)[key].string() : std::move(fallback);
}
int DocNode::integer_or(std::string_view key, int fallback) const {
  return contains(key) ? (*this)[key].integer() : fallback;
}
bool DocNode::boolean_or(std::string_view key, bool fallback) const {
  return contains(key) ? (*this)[key].boolean() : fallback;
}

DocView::DocView(const YamlDocument& doc, const std::string& file, std::string kind)
    : doc_(doc), file_(file), kind_(std::move(kind)) {}

DocNode DocView::root() const {
  return DocNode(&doc_.value, "");
}

SourcePos DocView::start() const {
  return SourcePos{file_, doc_.start.line, doc_.start.column};
}

SourcePos DocView::position_of(const std::string& pointer) const {
  const Pos p = doc_.position_of(pointer);
  return SourcePos{file_, p.line, p.column};
}

std::string DocView::dotted_path(const std::string& pointer) const {
  return manifest::dotted_path(pointer, doc_.value);
}

std::map<std::string, SourcePos> DocView::positions() const {
  std::map<std::string, SourcePos> out;
  for (const auto& [pointer, pos] : doc_.values) {
    out[dotted_path(pointer)] = SourcePos{file_, pos.line, pos.column};
  }
  return out;
}

Error DocView::error_at(const std::string& pointer, std::string message) const {
  return Error{Errc::kManifest, std::move(message), position_of(pointer), dotted_path(pointer)};
}

Diagnostics::File& Diagnostics::current() {
  if (files_.empty())
    files_.emplace_back();
  return files_.back();
}

void Diagnostics::error(Error e) {
  if (files_done_) {
    trailing_errors_.push_back(std::move(e));
  } else {
    current().errors.push_back(std::move(e));
  }
}

void Diagnostics::error(FileId file, Error e) {
  if (file < files_.size()) {
    files_[file].errors.push_back(std::move(e));
  } else {
    trailing_errors_.push_back(std::move(e));
  }
}

void Diagnostics::warning(Error e) {
  if (files_done_) {
    trailing_warnings_.push_back(std::move(e));
  } else {
    current().warnings.push_back(std::move(e));
  }
}

bool Diagnostics::has_errors() const {
  return !trailing_errors_.empty() ||
         std::any_of(files_.begin(), files_.end(), [](const File& f) { return !f.errors.empty(); });
}

void Diagnostics::begin_file() {
  files_.emplace_back();
}

namespace {

std::vector<Error> in_print_order(std::vector<std::vector<Error>> per_file,
                                  std::vector<Error> trailing) {
  std::vector<Error> out;
  for (auto& list : per_file) {
    std::stable_sort(list.begin(), list.end(), position_less);
    for (auto& e : list)
      out.push_back(std::move(e));
  }
  for (auto& e : trailing)
    out.push_back(std::move(e));
  for (auto& e : out)
    escape_echoed(e);
  return out;
}

}  // namespace

std::vector<Error> Diagnostics::errors() const {
  std::vector<std::vector<Error>> per_file;
  per_file.reserve(files_.size());
  for (const File& f : files_)
    per_file.push_back(f.errors);
  return in_print_order(std::move(per_file), trailing_errors_);
}

std::vector<Error> Diagnostics::warnings() const {
  std::vector<std::vector<Error>> per_file;
  per_file.reserve(files_.size());
  for (const File& f : files_)
    per_file.push_back(f.warnings);
  return in_print_order(std::move(per_file), trailing_warnings_);
}

}  // namespace hsmctl::manifest
