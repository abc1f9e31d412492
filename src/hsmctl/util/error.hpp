// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one error type of hsmctl: returned by value in Result<T>, never thrown across modules.

#include <optional>
#include <string>
#include <utility>

#include <tl/expected.hpp>

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
    case Errc::kUsage: return "usage";
    case Errc::kManifest: return "manifest";
    case Errc::kSecret: return "secret";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kDevice: return "device";
    case Errc::kAuth: return "auth";
    case Errc::kRefused: return "refused";
    case Errc::kStore: return "store";
    case Errc::kIo: return "io";
    case Errc::kInternal: return "internal";
  }
  return "internal";
}

/// 1-based position in a source file, for humans.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Error {
  Errc code = Errc::kInternal;
  /// One line, lower-case start, no trailing period, never contains a secret value.
  std::string message;
  /// Set for manifest errors.
  std::optional<SourcePos> where;
  /// Dotted manifest path ("spec.publicKeyAuth.required") when the error is about a field.
  std::string path;

  /// "file:line:column: path: message" (parts that are unset are left out).
  std::string to_string() const;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(Errc code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::nullopt, {}});
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
#define HSMCTL_TRY(expr)                                  \
  do {                                                    \
    auto hsmctl_try_result_ = (expr);                     \
    if (!hsmctl_try_result_) {                            \
      return tl::unexpected(hsmctl_try_result_.error());  \
    }                                                     \
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
