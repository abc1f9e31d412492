// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/resolve.hpp"

#include "hsmctl/model/limits.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/prompt.hpp"

#include <openssl/rand.h>

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace hsmctl::secrets {
namespace {

tl::unexpected<Error> secret_error(const std::string& field, std::string message) {
  Error e{Errc::kSecret, std::move(message), std::nullopt, field};
  return tl::unexpected<Error>(std::move(e));
}

Result<Secret> read_prompt(const std::string& field, const std::string& context) {
  // Asked on the terminal (/dev/tty) twice: the value may be set on the device, and a typo
  // there would leave a PIN nobody knows.
  HiddenPrompt prompt;
  prompt.what = context.empty() ? field : field + " of " + context;
  prompt.confirm = true;
  auto value = read_hidden(prompt, Errc::kSecret);
  if (!value)
    return secret_error(field, "prompt: " + value.error().message);
  return value;
}

// A secret file is opened with O_NOFOLLOW | O_NONBLOCK and everything is checked on the opened
// descriptor (no stat-then-open race): a regular file, no access for group/others, at most
// kMaxSecretFileBytes. A FIFO or a device is refused at once instead of hanging or reading forever.
Result<Secret> read_secret_file(const std::string& path, const std::string& field) {
  auto file = read_regular_file(path, kMaxSecretFileBytes, /*no_follow=*/true);
  if (!file)
    return secret_error(field, "file:" + file.error().to_string());
  Bytes& b = file->content;
  if ((file->mode & 077) != 0) {
    secure_wipe(b.data(), b.size());
    return secret_error(field,
                        "file:" + path + " is readable or writable by group/others; chmod 600 it");
  }
  if (!b.empty() && b.back() == '\n')
    b.pop_back();
  if (!b.empty() && b.back() == '\r')
    b.pop_back();
  Secret s(b);
  secure_wipe(b.data(), b.size());
  if (s.empty())
    return secret_error(field, "file:" + path + " is empty");
  return s;
}

Result<Resolved> resolve_value(const model::SecretRef& ref, const std::string& field,
                               store::CredentialKeeper& keeper,
                               const store::CredentialKey& generated_key,
                               const std::string& context) {
  using K = model::SecretRef::Kind;
  Resolved out;
  switch (ref.kind) {
    case K::kEnv: {
      const char* v = std::getenv(ref.target.c_str());
      if (v == nullptr || *v == '\0') {
        return secret_error(field, "environment variable " + ref.target + " is not set");
      }
      out.value = Secret(std::string_view(v));
      return out;
    }
    case K::kFile: {
      HSMCTL_TRY_ASSIGN(Secret s, read_secret_file(ref.target, field));
      out.value = std::move(s);
      return out;
    }
    case K::kPrompt: {
      HSMCTL_TRY_ASSIGN(Secret s, read_prompt(field, context));
      out.value = std::move(s);
      return out;
    }
    case K::kStore: {
      HSMCTL_TRY_ASSIGN(auto v, keeper.current({"", ref.target}));
      if (!v)
        return secret_error(field, "store:" + ref.target + " does not exist in the store");
      out.value = std::move(*v);
      return out;
    }
    case K::kGenerate: {
      HSMCTL_TRY_ASSIGN(auto v, keeper.current(generated_key));
      if (v) {
        out.value = std::move(*v);
      } else {
        out.to_generate = true;
      }
      return out;
    }
  }
  return secret_error(field, "unknown secret reference");
}

}  // namespace

Result<void> check_printable(const Secret& value, const std::string& field) {
  const std::string_view v = value.view();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f) {
      return secret_error(field, "the value contains a control character at position " +
                                     std::to_string(i + 1) +
                                     " (refused: check for a pasted "
                                     "line break or escape sequence)");
    }
  }
  return {};
}

Result<Resolved> resolve(const model::SecretRef& ref, const std::string& field,
                         store::CredentialKeeper& keeper, const store::CredentialKey& generated_key,
                         const std::string& context) {
  auto out = resolve_value(ref, field, keeper, generated_key, context);
  // Only values that come from outside are checked: hsmctl's own generated values are kept in
  // the store in the device's form (a generated SO PIN may be raw bytes until it is confirmed).
  if (out && ref.kind != model::SecretRef::Kind::kGenerate) {
    const std::optional<Secret>& value = out->value;
    if (value)
      HSMCTL_TRY(check_printable(*value, field));
  }
  return out;
}

Result<Secret> generate(const model::GenerateSpec& spec) {
  static constexpr std::string_view kDigits = "0123456789";
  static constexpr std::string_view kAlnum =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string_view alphabet = spec.charset == model::GenerateSpec::Charset::kDigits ? kDigits
                              : spec.charset == model::GenerateSpec::Charset::kHex  ? kHex
                                                                                    : kAlnum;
  if (spec.length <= 0 || spec.length > 64) {
    return make_error(Errc::kSecret, "generate: length must be 1..64");
  }
  std::string value;
  value.reserve(static_cast<std::size_t>(spec.length));
  // Rejection sampling keeps every character uniformly likely.
  const unsigned limit = 256 - (256 % alphabet.size());
  while (value.size() < static_cast<std::size_t>(spec.length)) {
    unsigned char b = 0;
    if (RAND_bytes(&b, 1) != 1)
      return make_error(Errc::kSecret, "the CSPRNG failed");
    if (b >= limit)
      continue;
    value.push_back(alphabet[b % alphabet.size()]);
  }
  Secret s(value);
  secure_wipe(value.data(), value.size());
  return s;
}

Result<Secret> normalize_so_pin(const Secret& value, const std::string& field) {
  // No check_printable here: values from outside were checked by resolve(); an 8-byte value
  // may be the raw form hsmctl itself keeps in the store.
  if (value.size() == 16) {
    auto raw = from_hex(value.view());
    if (!raw) {
      return secret_error(field, "a 16-character SO PIN must be 16 hex digits (8 bytes)");
    }
    Secret s(*raw);
    secure_wipe(raw->data(), raw->size());
    return s;
  }
  if (value.size() == 8)
    return value;
  return secret_error(field,
                      "the SO PIN must be exactly 8 bytes: 16 hex digits or 8 characters (got " +
                          std::to_string(value.size()) + " characters)");
}

Result<void> check_user_pin(const Secret& value, int pin_retries, const std::string& field) {
  HSMCTL_TRY(check_printable(value, field));
  const auto n = value.size();
  const int length = static_cast<int>(n);
  if (length < model::kMinUserPinLength || length > model::kMaxUserPinLength) {
    return secret_error(field, "the user PIN must be " + std::to_string(model::kMinUserPinLength) +
                                   ".." + std::to_string(model::kMaxUserPinLength) +
                                   " characters (got " + std::to_string(n) + ")");
  }
  // The short-PIN caps (model::max_pin_retries_for_length); pinRetries itself is at most the
  // policy maximum, checked by the schema.
  const int cap = model::max_pin_retries_for_length(length);
  if (cap < model::kMaxPinRetries && pin_retries > cap) {
    return secret_error(field, "a " + std::to_string(length) +
                                   "-character user PIN allows at most " + std::to_string(cap) +
                                   " retries (pinRetries is " + std::to_string(pin_retries) + ")");
  }
  return {};
}

}  // namespace hsmctl::secrets
