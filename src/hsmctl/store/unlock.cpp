// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/unlock.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/prompt.hpp"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace hsmctl::store {
namespace {

constexpr std::size_t kMaxPassphrase = 4096;

std::string env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

Result<std::string> home_dir() {
  std::string home = env("HOME");
  if (!home.empty())
    return home;
  struct passwd* pw = getpwuid(getuid());
  if (pw != nullptr && pw->pw_dir != nullptr)
    return std::string(pw->pw_dir);
  return make_error(Errc::kStore, "cannot find the home directory (set HOME or HSMCTL_STORE)");
}

Result<std::string> xdg_dir(const char* var, const char* fallback) {
  std::string dir = env(var);
  if (!dir.empty() && dir[0] == '/')
    return dir;  // the spec says to ignore relative paths
  HSMCTL_TRY_ASSIGN(std::string home, home_dir());
  return home + "/" + fallback;
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

Result<void> check_strict_mode(const std::string& path, const char* what) {
  auto checked = check_private_file(path);
  if (!checked) {
    if (checked.error().code == Errc::kUnavailable) {
      return make_error(Errc::kStore, std::string(what) + " " + path + " does not exist");
    }
    return checked;
  }
  return {};
}

}  // namespace

Result<std::string> default_store_path() {
  std::string explicit_path = env("HSMCTL_STORE");
  if (!explicit_path.empty() && explicit_path != "none")
    return explicit_path;
  HSMCTL_TRY_ASSIGN(std::string data, xdg_dir("XDG_DATA_HOME", ".local/share"));
  return data + "/hsmctl/store.hsmctl";
}

Result<std::string> default_key_file_path() {
  std::string explicit_path = env("HSMCTL_STORE_KEY_FILE");
  if (!explicit_path.empty())
    return explicit_path;
  HSMCTL_TRY_ASSIGN(std::string config, xdg_dir("XDG_CONFIG_HOME", ".config"));
  return config + "/hsmctl/store.key";
}

Result<Secret> read_passphrase_file(const std::string& path) {
  HSMCTL_TRY(check_strict_mode(path, "passphrase file"));
  HSMCTL_TRY_ASSIGN(Bytes content, read_file(path));
  std::size_t len = content.size();
  if (len > 0 && content[len - 1] == '\n')
    --len;
  if (len > 0 && content[len - 1] == '\r')
    --len;
  Secret out(ByteView(content.data(), len));
  secure_wipe(content.data(), content.size());
  if (out.empty())
    return make_error(Errc::kStore, "passphrase file " + path + " is empty");
  return out;
}

Result<Secret> read_passphrase_fd(int fd) {
  HSMCTL_TRY_ASSIGN(Secret value, read_hidden_line(fd, kMaxPassphrase, Errc::kStore));
  if (value.empty()) {
    return make_error(Errc::kStore,
                      "no passphrase on file descriptor " + std::to_string(fd) + " (empty)");
  }
  return value;
}

Result<Secret> prompt_passphrase(const std::string& prompt, bool confirm) {
  HiddenPrompt ask;
  ask.what = prompt;
  ask.confirm = confirm;
  ask.max_length = kMaxPassphrase;
  return read_hidden(ask, Errc::kStore);
}

Result<Secret> read_key_file(const std::string& path) {
  HSMCTL_TRY(check_strict_mode(path, "key file"));
  HSMCTL_TRY_ASSIGN(Bytes content, read_file(path));
  if (content.size() != 32) {
    secure_wipe(content.data(), content.size());
    return make_error(Errc::kStore, "key file " + path + " must hold exactly 32 bytes");
  }
  Secret out(content);
  secure_wipe(content.data(), content.size());
  return out;
}

Result<Secret> create_key_file(const std::string& path) {
  HSMCTL_TRY(make_private_dir(dir_of(path)));
  HSMCTL_TRY_ASSIGN(Bytes key, crypto::random_bytes(32));
  // Written to a temporary file in the same directory, then linked to its name: the name never
  // refers to a partial key (a kill or a full disk while writing leaves at most a stray
  // temporary file, never a 0-byte key file that makes every later run fail), and link(2) fails
  // with EEXIST when another process created the key first, like O_EXCL did.
  const auto slash = path.rfind('/');
  const std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
  std::string tmp = dir_of(path) + "/." + base + ".new.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) {
    int err = errno;
    secure_wipe(key.data(), key.size());
    return make_error(Errc::kStore, "cannot create key file " + path + ": " + strerror(err),
                      SysErrno{err});
  }
  bool ok = fchmod(fd, 0600) == 0 && write(fd, key.data(), key.size()) == 32 && fsync(fd) == 0;
  int err = errno;
  ok = (close(fd) == 0) && ok;
  if (!ok) {
    unlink(tmp.c_str());
    secure_wipe(key.data(), key.size());
    return make_error(Errc::kStore, "cannot write key file " + path + ": " + strerror(err),
                      SysErrno{err});
  }
  if (link(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    unlink(tmp.c_str());
    secure_wipe(key.data(), key.size());
    return make_error(Errc::kStore, "cannot create key file " + path + ": " + strerror(err),
                      SysErrno{err});
  }
  unlink(tmp.c_str());
  int dfd = open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  Secret out(key);
  secure_wipe(key.data(), key.size());
  return out;
}

Result<UnlockOptions> UnlockOptions::from_environment() {
  UnlockOptions o;
  std::string file = env("HSMCTL_STORE_PASSPHRASE_FILE");
  if (!file.empty())
    o.passphrase_file = file;
  std::string fd = env("HSMCTL_STORE_PASSPHRASE_FD");
  if (!fd.empty()) {
    char* end = nullptr;
    long v = strtol(fd.c_str(), &end, 10);
    if (end == fd.c_str() || *end != '\0' || v < 0 || v > 65535) {
      return make_error(Errc::kUsage, "HSMCTL_STORE_PASSPHRASE_FD must be a descriptor number");
    }
    o.passphrase_fd = static_cast<int>(v);
  }
  std::string key = env("HSMCTL_STORE_KEY_FILE");
  if (!key.empty())
    o.key_file = key;
  return o;
}

KeyMode ConfiguredKeySource::preferred_mode() const {
  return options_.key_file ? KeyMode::kKeyFile : KeyMode::kPassphrase;
}

Result<Secret> ConfiguredKeySource::material(KeyMode mode, bool creating) {
  if (mode == KeyMode::kKeyFile) {
    if (key_)
      return *key_;
    std::string path;
    if (options_.key_file) {
      path = *options_.key_file;
    } else {
      HSMCTL_TRY_ASSIGN(path, default_key_file_path());
    }
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 && errno == ENOENT) {
      if (!creating) {
        return make_error(Errc::kStore, "the store is protected by a key file, and " + path +
                                            " does not exist (give it with --key-file or "
                                            "HSMCTL_STORE_KEY_FILE)");
      }
      HSMCTL_TRY_ASSIGN(key_, create_key_file(path));
      return *key_;
    }
    HSMCTL_TRY_ASSIGN(key_, read_key_file(path));
    return *key_;
  }
  if (passphrase_)
    return *passphrase_;
  if (options_.passphrase_file) {
    HSMCTL_TRY_ASSIGN(passphrase_, read_passphrase_file(*options_.passphrase_file));
  } else if (options_.passphrase_fd) {
    HSMCTL_TRY_ASSIGN(passphrase_, read_passphrase_fd(*options_.passphrase_fd));
  } else if (options_.allow_prompt && terminal_available()) {
    HSMCTL_TRY_ASSIGN(passphrase_, prompt_passphrase(options_.prompt_label, creating));
  } else {
    return make_error(Errc::kStore,
                      "the " + options_.prompt_label +
                          " is needed and there is no terminal to ask on; give it with "
                          "HSMCTL_STORE_PASSPHRASE_FILE (a 0600 file), HSMCTL_STORE_PASSPHRASE_FD "
                          "(an open descriptor), or use a key file (--key-file / "
                          "HSMCTL_STORE_KEY_FILE)");
  }
  return *passphrase_;
}

Result<void> disable_core_dumps() {
  struct rlimit none {};
  none.rlim_cur = 0;
  none.rlim_max = 0;
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    const int err = errno;
    return make_error(Errc::kInternal, std::string("cannot disable core dumps: ") + strerror(err),
                      SysErrno{err});
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    const int err = errno;
    return make_error(Errc::kInternal,
                      std::string("cannot mark the process non-dumpable: ") + strerror(err),
                      SysErrno{err});
  }
  return {};
}

}  // namespace hsmctl::store
