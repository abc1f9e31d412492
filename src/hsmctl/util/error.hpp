// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one error type of hsmctl: returned by value in Result<T>, never thrown across modules.

#include <tl/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace hsmctl {

/// What kind of failure; the CLI maps it to an exit code and a message prefix.
enum class Errc {
  kUsage,        ///< bad command line
  kManifest,     ///< manifest syntax, schema or semantic error
  kSecret,       ///< a secret reference could not be resolved
  kUnavailable,  ///< no daemon / reader / card / simulator file
  kDevice,       ///< the device answered with an unexpected status word or malformed data
  kAuth,         ///< a credential was rejected by the device
  kRefused,      ///< hsmctl refused an action (policy, missing --allow-reinit, safety rule)
  kStore,        ///< credential store problem
  kIo,           ///< local file-system problem
  kInternal,     ///< a bug
};

/// Stable lower-case name of an error class, as in `plan -o json` ("unavailable", "secret", ...).
inline const char* errc_name(Errc code) {
  switch (code) {
    case Errc::kUsage:
      return "usage";
    case Errc::kManifest:
      return "manifest";
    case Errc::kSecret:
      return "secret";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kDevice:
      return "device";
    case Errc::kAuth:
      return "auth";
    case Errc::kRefused:
      return "refused";
    case Errc::kStore:
      return "store";
    case Errc::kIo:
      return "io";
    case Errc::kInternal:
      return "internal";
  }
  return "internal";
}

/// 1-based position in a source file, for humans.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
};

/// An ISO 7816 status word a card answered (e.g. 0x6A82).
struct StatusWord {
  std::uint16_t value = 0;
  bool operator==(const StatusWord&) const = default;
};
/// A vendor tool's numeric error code (e.g. ppin's 0x80005017).
struct VendorCode {
  std::uint32_t value = 0;
  bool operator==(const VendorCode&) const = default;
};
/// The errno of a failed system call.
struct SysErrno {
  int value = 0;
  bool operator==(const SysErrno&) const = default;
};
/// The typed reason behind an Error, for callers that decide by it; the message is for humans
/// only and no logic reads it. monostate: no such detail.
using ErrorCause = std::variant<std::monostate, StatusWord, VendorCode, SysErrno>;

struct Error {
  Errc code = Errc::kInternal;
  /// One line, lower-case start, no trailing period, never contains a secret value.
  std::string message;
  /// Set for manifest errors.
  std::optional<SourcePos> where;
  /// Dotted manifest path ("spec.publicKeyAuth.required") when the error is about a field.
  std::string path;
  /// What the device, tool or system reported, when it reported a code.
  ErrorCause cause{};

  /// "file:line:column: path: message" (parts that are unset are left out).
  std::string to_string() const;

  /// The card's status word, when the error is an unexpected answer of a card.
  std::optional<std::uint16_t> status_word() const {
    if (const auto* c = std::get_if<StatusWord>(&cause))
      return c->value;
    return std::nullopt;
  }
  /// The vendor tool's error code, when the tool reported one.
  std::optional<std::uint32_t> vendor_code() const {
    if (const auto* c = std::get_if<VendorCode>(&cause))
      return c->value;
    return std::nullopt;
  }
  /// The errno of the failed system call, when one failed.
  std::optional<int> sys_errno() const {
    if (const auto* c = std::get_if<SysErrno>(&cause))
      return c->value;
    return std::nullopt;
  }
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(Errc code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::nullopt, {}});
}

/// make_error() with a typed cause: `make_error(Errc::kIo, "...", SysErrno{errno})`.
inline tl::unexpected<Error> make_error(Errc code, std::string message, ErrorCause cause) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::nullopt, {}, cause});
}

inline std::string Error::to_string() const {
  std::string out;
  if (where) {
    out += where->file;
    if (where->line > 0) {
      out += ":" + std::to_string(where->line) + ":" + std::to_string(where->column);
    }
    out += ": ";
  }
  if (!path.empty()) {
    out += path + ": ";
  }
  out += message;
  return out;
}

}  // namespace hsmctl

/// Early return of the error of a Result-returning expression (ccache's TRY).
#define HSMCTL_TRY(expr)                                 \
  do {                                                   \
    auto hsmctl_try_result_ = (expr);                    \
    if (!hsmctl_try_result_) {                           \
      return tl::unexpected(hsmctl_try_result_.error()); \
    }                                                    \
  } while (false)

#define HSMCTL_CONCAT_INNER_(a, b) a##b
#define HSMCTL_CONCAT_(a, b) HSMCTL_CONCAT_INNER_(a, b)
/// `HSMCTL_TRY_ASSIGN(auto x, f());` declares x from f()'s value or returns f()'s error.
#define HSMCTL_TRY_ASSIGN(decl, expr) \
  HSMCTL_TRY_ASSIGN_IMPL_(HSMCTL_CONCAT_(hsmctl_try_tmp_, __LINE__), decl, expr)
#define HSMCTL_TRY_ASSIGN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                             \
  if (!tmp) {                                    \
    return tl::unexpected(tmp.error());          \
  }                                              \
  decl = std::move(*tmp)
