// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/model/secret_ref.hpp"

#include <cctype>

namespace hsmctl::model {

std::string SecretRef::display() const {
  switch (kind) {
    case Kind::kEnv:
      return "env:" + target;
    case Kind::kFile:
      return "file:" + target;
    case Kind::kStore:
      return "store:" + target;
    case Kind::kPrompt:
      return "prompt";
    case Kind::kGenerate:
      return "generate";
  }
  return "?";
}

std::optional<SecretRef> parse_secret_reference(const std::string& text) {
  using Kind = SecretRef::Kind;
  SecretRef ref;
  auto valid_name = [](const std::string& n, bool env) {
    if (n.empty())
      return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(n[i]);
      // Store entry names include hsmctl's own ("pico:<serial>/user-pin", which get emits).
      bool ok =
          std::isalnum(c) || c == '_' || (!env && (c == '.' || c == '-' || c == ':' || c == '/'));
      if (env && i == 0 && std::isdigit(c))
        ok = false;
      if (!env && i == 0 && !std::isalnum(c))
        ok = false;
      if (!ok)
        return false;
    }
    return true;
  };
  if (text == "prompt") {
    ref.kind = Kind::kPrompt;
    return ref;
  }
  if (text.starts_with("env:")) {
    ref.kind = Kind::kEnv;
    ref.target = text.substr(4);
    if (!valid_name(ref.target, true))
      return std::nullopt;
    return ref;
  }
  if (text.starts_with("file:")) {
    ref.kind = Kind::kFile;
    ref.target = text.substr(5);
    if (ref.target.size() < 2 || ref.target[0] != '/')
      return std::nullopt;
    return ref;
  }
  if (text.starts_with("store:")) {
    ref.kind = Kind::kStore;
    ref.target = text.substr(6);
    if (!valid_name(ref.target, false))
      return std::nullopt;
    return ref;
  }
  return std::nullopt;
}

}  // namespace hsmctl::model
