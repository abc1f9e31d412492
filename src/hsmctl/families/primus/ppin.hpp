// SPDX-License-Identifier: Apache-2.0
#pragma once
// Client of the Securosys `ppin` tool ("Primus Permanent PIN"). Every call passes explicit
// `-c <primus.cfg> -s <.secrets.cfg>` paths. Secrets are answered to ppin's prompts through a
// pseudo-terminal with echo off; they never appear in argv, in returned output or in errors.
// ppin's exit codes are undocumented, so outcomes are decided from its output: the documented
// 0x8000xxxx / 0xCxxxxxxx codes, and for credential commands a following `-l` by the caller.

#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::families::primus {

/// One `[NN] slot-id <id>: user '<name>' permanent secret: Configured|MISSING` line.
struct SlotStatus {
  int index = 0;
  int slot_id = 0;
  std::string user;
  bool configured = false;
};

/// One `[NN] service/proxy user '<name>' permanent secret: Configured|MISSING` line.
struct ProxyStatus {
  int index = 0;
  std::string user;
  bool configured = false;
};

/// Parsed `ppin -l` (also printed after add/update/remove/-p/-x).
struct Listing {
  std::vector<SlotStatus> slots;
  std::vector<ProxyStatus> proxies;
  /// nullopt: no line for the user; true only when every line of the user says Configured
  /// (secrets are keyed by user name, so one add configures all of them).
  std::optional<bool> user_configured(const std::string& user) const;
  std::optional<bool> proxy_configured(const std::string& user) const;
};

/// Parses status lines anywhere in `output`, tolerating any whitespace and other lines.
Listing parse_listing(std::string_view output);

/// The first documented error code in `output` ("0x80005017" -> 0x80005017), if any.
std::optional<std::uint32_t> find_error_code(std::string_view output);

/// A code as ppin prints it and hsmctl records it: "0x80005017" (8 upper-case hex digits).
std::string code_hex(std::uint32_t code);

/// The documented meaning of a code, or "undocumented error".
const char* describe_code(std::uint32_t code);

/// Codes that mean a credential was rejected or is no longer valid; never retried.
constexpr std::uint32_t kSetupLoginFailed = 0x80005017;
constexpr std::uint32_t kSetupPasswordExpired = 0x80005018;
constexpr std::uint32_t kWrongPkcs11Pin = 0x8000000B;
constexpr std::uint32_t kPasswordExpired = 0x80000037;
constexpr std::uint32_t kUserNotFound = 0x8000000D;
constexpr std::uint32_t kEntryExists = 0x80005002;
bool is_credential_failure(std::uint32_t code);

/// An Error for a ppin failure: Errc::kAuth for credential codes, kUnavailable for network and
/// missing files, kIo for write access, kDevice otherwise. `what` names the operation.
Error error_for_code(std::uint32_t code, const std::string& what);

/// `ppin -v`: "Primus HSM PKCS#11 2.2.4" -> "2.2.4".
Result<std::string> parse_version(std::string_view output);

/// Parsed `ppin -t` (connectivity test with login).
struct TestLine {
  std::string hsm;
  int slot_id = 0;
  std::string user;
  bool ok = false;
  std::string detail;  ///< "OK" or the error printed (CKR_TOKEN_NOT_PRESENT, 0x8000...)
};
struct TestResult {
  std::vector<TestLine> lines;
  int failures = -1;  ///< "Number of failures: N", -1 when not printed
};
TestResult parse_test(std::string_view output);

/// The environment a ppin child gets, from `env` (hsmctl's environ): PATH, HOME, LANG,
/// LANGUAGE, LC_*, TERM, TZ, USER, LOGNAME, TMPDIR, LD_LIBRARY_PATH, PRIMUS_HOME, plus the names
/// listed in HSMCTL_PPIN_PASS_ENV (comma/space separated; TEST-ONLY, for a double's control
/// variables; HSMCTL_* names are never passed). Nothing else: `env:` secrets, the store key and
/// passphrases stay in hsmctl.
std::vector<std::string> ppin_environment(const char* const* env);

/// Paths ppin works on for one call.
struct PpinPaths {
  std::string config;
  std::string secrets;
};

/// What a ppin run printed (prompts included, secrets never: echo is off and any answer value
/// found in the output is replaced by "(redacted)").
struct RunOutput {
  std::string output;
  int exit_status = 0;  ///< -1 when killed by a signal
  std::optional<std::uint32_t> error_code;
};

class Ppin {
 public:
  /// `program`: path or name looked up in PATH ("ppin"). `timeout_seconds` bounds every run.
  explicit Ppin(std::string program = "ppin", int timeout_seconds = 120)
      : program_(std::move(program)), timeout_seconds_(timeout_seconds) {}

  const std::string& program() const { return program_; }

  /// `ppin -v`.
  Result<std::string> version() const;
  /// `ppin -c -s -l`. Errc from error_for_code() when ppin reports an error code.
  Result<Listing> list(const PpinPaths& paths) const;
  /// `ppin -c -s -a -e USER`, answering the setup-password and PKCS#11-password prompts.
  Result<RunOutput> add(const PpinPaths& paths, const std::string& user, const Secret& setup,
                        const Secret& pkcs11) const;
  /// `ppin -c -s -u -e USER` (same prompts). A failed update removes the entry: callers run it
  /// on copies only.
  Result<RunOutput> update(const PpinPaths& paths, const std::string& user, const Secret& setup,
                           const Secret& pkcs11) const;
  /// `ppin -c -s -r -e USER`.
  Result<RunOutput> remove(const PpinPaths& paths, const std::string& user) const;
  /// `ppin -c -s -p -e PROXYUSER`, answering the proxy-password prompt.
  Result<RunOutput> set_proxy(const PpinPaths& paths, const std::string& proxy_user,
                              const Secret& password) const;
  /// `ppin -c -s -x -e PROXYUSER`.
  Result<RunOutput> remove_proxy(const PpinPaths& paths, const std::string& proxy_user) const;
  /// `ppin -c -s -t --user USER`: PERFORMS A LOGIN. Only for --probe.
  Result<TestResult> test(const PpinPaths& paths, const std::string& user) const;

  /// A prompt prefix and the secret that answers it.
  struct Answer {
    std::string prompt;
    const Secret* value = nullptr;
  };
  /// Runs ppin with `args` on a pseudo-terminal under umask 077 with ppin_environment(),
  /// answering prompts: an answer is typed only once the terminal shows echo off.
  /// Errc::kUnavailable when the program cannot be started, kDevice on timeout, on a prompt that is
  /// not expected (at once, never answered), or when ppin does not turn echo off for an expected
  /// prompt.
  Result<RunOutput> run(const std::vector<std::string>& args,
                        const std::vector<Answer>& answers) const;

 private:
  Result<RunOutput> credential_command(const char* op, const PpinPaths& paths,
                                       const std::string& user,
                                       const std::vector<Answer>& answers) const;
  std::string program_;
  int timeout_seconds_;
};

}  // namespace hsmctl::families::primus
