// SPDX-License-Identifier: Apache-2.0
#pragma once
// primus.cfg (libconfig syntax): deterministic rendering of the desired file, parsing of the live
// one, a field-level diff, and the file-system side (existence, owner, mode, atomic replacement
// with a backup). libconfig++ is used only inside this module; nothing here throws.

#include "hsmctl/model/primus.hpp"
#include "hsmctl/plan/plan.hpp"
#include "hsmctl/util/error.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::families::primus {

// The Primus model types (model/primus.hpp) are this family's vocabulary.
using namespace hsmctl::model::primus;  // NOLINT(google-build-using-namespace)

/// A parsed primus.cfg flattened to "primus.hsms.hsm0.host" -> "\"a.example\"" (values rendered
/// in libconfig syntax). Values of `pin` and `proxy_password` settings are replaced by
/// "(sensitive)": they are credentials and never leave this module.
struct ParsedConfig {
  std::map<std::string, std::string> settings;
  /// Every user_name of every slot, in file order (duplicates across hsm blocks included).
  std::vector<std::string> users;
  /// The file holds a `pin` or `proxy_password` setting (a credential in a public file).
  bool has_inline_credentials = false;
  /// String settings as libconfig read them (unescaped), same paths; sensitive ones omitted.
  std::map<std::string, std::string> strings;
};

/// `s` as a libconfig string literal with quotes, escaped exactly as libconfig reads it back
/// (\\ \" \f \n \r \t, other control bytes \xNN, everything else verbatim). Every string
/// render_config() writes goes through this.
std::string config_string_literal(std::string_view s);

/// The desired primus.cfg for `cluster` and its partitions (see partitions_of()). Same input,
/// same bytes. Holds no credential: the proxy password goes to .secrets.cfg through ppin.
std::string render_config(const PrimusCluster& cluster,
                          const std::vector<const PrimusPartition*>& partitions);

/// Parses primus.cfg text. Errc::kIo with `where` = file:line on a syntax error.
Result<ParsedConfig> parse_config(std::string_view text, const std::string& file_name);

/// Differences live -> desired, sorted by path ("primus.cfg: primus.hsms.hsm0.port").
std::vector<plan::FieldChange> diff_config(const ParsedConfig& live, const ParsedConfig& desired);

/// What stat() says about a provider file.
struct FileFacts {
  bool exists = false;
  std::string owner;  ///< user name, or the numeric id when it has no name
  std::string group;
  unsigned mode = 0;  ///< permission bits (07777)
  /// Absent for stat(), but lstat() finds a symbolic link there (its target is missing).
  bool dangling_symlink = false;
};

/// Errc::kIo when stat fails for another reason than non-existence.
Result<FileFacts> stat_file(const std::string& path);

/// True when `facts` already has `want` (owner, group, mode).
bool mode_matches(const FileFacts& facts, const FileMode& want);

/// Human form "root:primus 0640".
std::string describe(const FileFacts& facts);
std::string describe(const FileMode& mode);

/// Sets owner, group and mode of `path`. Errc::kIo naming the path (unknown user or group,
/// chown/chmod failure).
Result<void> apply_file_mode(const std::string& path, const FileMode& want);

/// Replaces `path` with `content` atomically (util/atomic_file.hpp); an existing file is first
/// copied to `<path>.bak` (mode 0600, also atomically). Owner/group/mode set to `want`.
Result<void> write_config(const std::string& path, std::string_view content, const FileMode& want);

/// Copies `from` to `to` with mode 0600 (atomic). Errc::kUnavailable when `from` is missing.
Result<void> copy_file(const std::string& from, const std::string& to);

/// Outcome of create_empty_secrets_file().
enum class CreateOutcome {
  kCreated,        ///< a new, empty, private file now exists at the path
  kAlreadyExists,  ///< a regular file was already there; it was not opened for writing
};

/// Creates the empty secrets file `path` (spec.client.createSecretsFile): a single
/// open(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600), so the file is private from its
/// creation whatever the umask, an existing file is never truncated, and nothing is ever created
/// through a symbolic link (O_EXCL refuses any link, dangling or not). The new descriptor is
/// checked with fstat (a regular file of this user without group/other bits; otherwise it is
/// removed again), fsynced, and the directory is fsynced. No byte is written: the vendor's
/// template content is not documented, and an empty file is what a libconfig parser reads as
/// "no entries". Owner/group/mode are left as created (apply_file_mode() sets the manifest's).
/// kAlreadyExists when a regular file (or a symlink to one) exists; Errc::kIo naming the path
/// for a symlink to a missing target, a non-regular file, or any system error.
Result<CreateOutcome> create_empty_secrets_file(const std::string& path);

}  // namespace hsmctl::families::primus
