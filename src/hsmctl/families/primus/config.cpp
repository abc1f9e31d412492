// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/primus/config.hpp"

#include "hsmctl/util/atomic_file.hpp"

#include <libconfig.h++>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace hsmctl::families::primus {

namespace {

/// A libconfig string literal for `s`, escaped exactly as libconfig's scanner reads it back
/// (the escapes libconfig's own writer emits: \\ \" \f \n \r \t, other control bytes as
/// \xNN; bytes >= 0x80 verbatim).
std::string quoted(const std::string& s) {
  return config_string_literal(s);
}

bool is_sensitive_name(const std::string& name) {
  return name == "pin" || name == "proxy_password" || name == "password";
}

std::string render_value(const libconfig::Setting& s) {
  switch (s.getType()) {
    case libconfig::Setting::TypeString:
      return quoted(static_cast<const char*>(s));
    case libconfig::Setting::TypeInt:
      return std::to_string(static_cast<int>(s));
    case libconfig::Setting::TypeInt64:
      return std::to_string(static_cast<long long>(s));
    case libconfig::Setting::TypeFloat: {
      std::ostringstream o;
      o << static_cast<double>(s);
      return o.str();
    }
    case libconfig::Setting::TypeBoolean:
      return static_cast<bool>(s) ? "true" : "false";
    default:
      return "?";
  }
}

void flatten(const libconfig::Setting& s, const std::string& prefix, ParsedConfig& out) {
  if (s.isAggregate()) {
    if (s.getLength() == 0)
      out.settings[prefix] = s.isGroup() ? "{}" : "[]";
    for (int i = 0; i < s.getLength(); ++i) {
      const libconfig::Setting& child = s[i];
      std::string name;
      if (s.isGroup()) {
        name = child.getName() != nullptr ? child.getName() : std::to_string(i);
        name = prefix.empty() ? name : prefix + "." + name;
      } else {
        name = prefix + "[" + std::to_string(i) + "]";
      }
      flatten(child, name, out);
    }
    return;
  }
  const char* own = s.getName();
  if (own != nullptr && is_sensitive_name(own)) {
    out.settings[prefix] = "(sensitive)";
    out.has_inline_credentials = true;
    return;
  }
  out.settings[prefix] = render_value(s);
  if (s.getType() == libconfig::Setting::TypeString) {
    out.strings[prefix] = static_cast<const char*>(s);
  }
  if (own != nullptr && std::strcmp(own, "user_name") == 0 &&
      s.getType() == libconfig::Setting::TypeString) {
    out.users.emplace_back(static_cast<const char*>(s));
  }
}

std::string name_of_uid(uid_t uid) {
  struct passwd pw {};
  struct passwd* res = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != nullptr)
    return pw.pw_name;
  return std::to_string(uid);
}

std::string name_of_gid(gid_t gid) {
  struct group gr {};
  struct group* res = nullptr;
  char buf[4096];
  if (getgrgid_r(gid, &gr, buf, sizeof buf, &res) == 0 && res != nullptr)
    return gr.gr_name;
  return std::to_string(gid);
}

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

}  // namespace

std::string config_string_literal(std::string_view s) {
  std::string o = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\f':
        o += "\\f";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          o += buf;
        } else {
          o += ch;
        }
    }
  }
  return o + "\"";
}

std::string render_config(const PrimusCluster& cluster,
                          const std::vector<const PrimusPartition*>& partitions) {
  std::ostringstream o;
  o << "# Managed by hsmctl (PrimusCluster \"" << cluster.name
    << "\"). Local edits are replaced on the next apply.\n";
  o << "version = \"1.0\";\n";
  o << "primus:\n{\n";
  o << "  wait_delay = " << cluster.wait_delay_ms << ";\n";
  o << "  wait_max_tries = " << cluster.wait_max_tries << ";\n";
  o << "  connect_on_init = " << (cluster.connect_on_init ? "true" : "false") << ";\n";
  o << "  hsms:\n  {\n";
  for (std::size_t i = 0; i < cluster.members.size(); ++i) {
    const Member& m = cluster.members[i];
    const std::string name = m.name.empty() ? "hsm" + std::to_string(i) : m.name;
    o << "    " << name << ":\n    {\n";
    o << "      host = " << quoted(m.host) << ";\n";
    o << "      port = " << quoted(std::to_string(m.port)) << ";\n";
    o << "      priority = " << m.priority << ";\n";
    o << "      slots:\n      {\n";
    for (std::size_t j = 0; j < partitions.size(); ++j) {
      const PrimusPartition& p = *partitions[j];
      o << "        slot" << j << ":\n        {\n";
      o << "          user_name = " << quoted(p.user_name) << ";\n";
      o << "          client_id = " << quoted(p.client_id.empty() ? "hsmctl" : p.client_id)
        << ";\n";
      o << "          id = " << p.slot_id << ";\n";
      if (cluster.service_proxy) {
        o << "          proxy_user = " << quoted(cluster.service_proxy->user) << ";\n";
      }
      o << "        };\n";
    }
    o << "      };\n";
    o << "    };\n";
  }
  o << "  };\n";
  o << "  log:\n  {\n";
  if (!cluster.log.file.empty())
    o << "    file = " << quoted(cluster.log.file) << ";\n";
  o << "    write_log_file = " << (cluster.log.write_log_file ? "true" : "false") << ";\n";
  o << "    write_syslog = " << (cluster.log.write_syslog ? "true" : "false") << ";\n";
  o << "    trace_level = " << cluster.log.trace_level << ";\n";
  o << "  };\n";
  o << "};\n";
  return o.str();
}

Result<ParsedConfig> parse_config(std::string_view text, const std::string& file_name) {
  try {
    libconfig::Config cfg;
    cfg.readString(std::string(text));
    ParsedConfig out;
    flatten(cfg.getRoot(), "", out);
    return out;
  } catch (const libconfig::ParseException& e) {
    Error err{Errc::kIo,
              std::string("primus.cfg syntax error: ") + e.getError(),
              SourcePos{file_name, e.getLine(), 1},
              {}};
    return tl::unexpected(err);
  } catch (const std::exception& e) {
    return make_error(Errc::kIo, "cannot parse " + file_name + ": " + e.what());
  }
}

std::vector<plan::FieldChange> diff_config(const ParsedConfig& live, const ParsedConfig& desired) {
  std::vector<plan::FieldChange> out;
  auto li = live.settings.begin();
  auto di = desired.settings.begin();
  auto push = [&](const std::string& path, std::string before, std::string after) {
    out.push_back(
        plan::FieldChange{"primus.cfg: " + path, std::move(before), std::move(after), false});
  };
  while (li != live.settings.end() || di != desired.settings.end()) {
    if (di == desired.settings.end() || (li != live.settings.end() && li->first < di->first)) {
      push(li->first, li->second, "(absent)");
      ++li;
    } else if (li == live.settings.end() || di->first < li->first) {
      push(di->first, "(absent)", di->second);
      ++di;
    } else {
      if (li->second != di->second)
        push(li->first, li->second, di->second);
      ++li;
      ++di;
    }
  }
  return out;
}

Result<FileFacts> stat_file(const std::string& path) {
  struct stat st {};
  FileFacts f;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      const int err = errno;
      return make_error(Errc::kIo, "cannot stat " + path + ": " + std::strerror(err),
                        SysErrno{err});
    }
    struct stat lst {};
    f.dangling_symlink = ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
    return f;
  }
  f.exists = true;
  f.owner = name_of_uid(st.st_uid);
  f.group = name_of_gid(st.st_gid);
  f.mode = st.st_mode & 07777;
  return f;
}

bool mode_matches(const FileFacts& facts, const FileMode& want) {
  return facts.exists && facts.owner == want.owner && facts.group == want.group &&
         facts.mode == (want.mode & 07777);
}

std::string describe(const FileFacts& facts) {
  if (!facts.exists)
    return "(absent)";
  return facts.owner + ":" + facts.group + " " + octal(facts.mode);
}

std::string describe(const FileMode& mode) {
  return mode.owner + ":" + mode.group + " " + octal(mode.mode);
}

Result<void> apply_file_mode(const std::string& path, const FileMode& want) {
  uid_t uid = 0;
  gid_t gid = 0;
  {
    struct passwd pw {};
    struct passwd* res = nullptr;
    char buf[4096];
    if (getpwnam_r(want.owner.c_str(), &pw, buf, sizeof buf, &res) != 0 || res == nullptr) {
      return make_error(Errc::kIo, "unknown user '" + want.owner + "' for " + path);
    }
    uid = pw.pw_uid;
  }
  {
    struct group gr {};
    struct group* res = nullptr;
    char buf[4096];
    if (getgrnam_r(want.group.c_str(), &gr, buf, sizeof buf, &res) != 0 || res == nullptr) {
      return make_error(Errc::kIo, "unknown group '" + want.group + "' for " + path);
    }
    gid = gr.gr_gid;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return make_error(Errc::kIo, "cannot stat " + path + ": " + std::strerror(err), SysErrno{err});
  }
  if ((st.st_uid != uid || st.st_gid != gid) && ::chown(path.c_str(), uid, gid) != 0) {
    const int err = errno;
    return make_error(Errc::kIo, "cannot chown " + path + ": " + std::strerror(err), SysErrno{err});
  }
  if (::chmod(path.c_str(), want.mode & 07777) != 0) {
    const int err = errno;
    return make_error(Errc::kIo, "cannot chmod " + path + ": " + std::strerror(err), SysErrno{err});
  }
  return {};
}

Result<void> copy_file(const std::string& from, const std::string& to) {
  HSMCTL_TRY_ASSIGN(Bytes content, read_file(from));
  auto r = write_file_atomically(to, content, 0600);
  std::fill(content.begin(), content.end(), 0);
  return r;
}

Result<CreateOutcome> create_empty_secrets_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST || err == ELOOP) {
      struct stat lst {};
      if (::lstat(path.c_str(), &lst) != 0) {
        return make_error(Errc::kIo, "cannot create " + path + ": " + std::strerror(err),
                          SysErrno{err});
      }
      if (S_ISLNK(lst.st_mode)) {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
          return CreateOutcome::kAlreadyExists;  // a link to an existing file: left as it is
        }
        return make_error(Errc::kIo, "refusing to create " + path +
                                         ": it is a symbolic link to a missing file; hsmctl "
                                         "never creates a secrets file through a link (remove "
                                         "the link, or set secretsPath to the real path)");
      }
      if (S_ISREG(lst.st_mode))
        return CreateOutcome::kAlreadyExists;
      return make_error(Errc::kIo, "refusing to create " + path + ": not a regular file");
    }
    return make_error(Errc::kIo, "cannot create " + path + ": " + std::strerror(err),
                      SysErrno{err});
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = std::string("fstat: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    // O_EXCL created it; anything else here (a default ACL granting more, a foreign owner)
    // means the directory does not behave as assumed: do not leave such a file behind.
    problem = "the new file is not a private regular file of this user (mode " +
              octal(st.st_mode & 07777) + ")";
  } else if (::fsync(fd) != 0) {
    problem = std::string("fsync: ") + std::strerror(errno);
  }
  ::close(fd);
  if (!problem.empty()) {
    ::unlink(path.c_str());
    return make_error(Errc::kIo, "cannot create " + path + ": " + problem);
  }
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0               ? std::string("/")
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return CreateOutcome::kCreated;
}

Result<void> write_config(const std::string& path, std::string_view content, const FileMode& want) {
  auto old = read_file(path);
  if (old) {
    HSMCTL_TRY(write_file_atomically(path + ".bak", *old, 0600));
  } else if (old.error().code != Errc::kUnavailable) {
    return tl::unexpected(old.error());
  }
  Bytes bytes(content.begin(), content.end());
  // Written 0600 first: the final owner/group/mode are set before anything else reads it.
  HSMCTL_TRY(write_file_atomically(path, bytes, 0600));
  return apply_file_mode(path, want);
}

}  // namespace hsmctl::families::primus
