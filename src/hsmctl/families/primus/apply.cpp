// SPDX-License-Identifier: Apache-2.0
// prepare / check_guards / execute for Primus clusters (see engine.hpp).
#include "hsmctl/families/primus/engine.hpp"
#include "hsmctl/secrets/resolve.hpp"
#include "hsmctl/store/fingerprint.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/interrupt.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

namespace hsmctl::families::primus {

namespace {

using store::fingerprint;
using store::fingerprint_key;
using store::load_lines;
using store::lookup;
using store::remember;
using store::save_lines;

/// Sets the line of `fp` to "<fp> <value>" (replacing an existing one).
Result<void> set_line(store::CredentialKeeper& keeper, const store::CredentialKey& key,
                      const std::string& fp, const std::string& value) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(keeper, key));
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.substr(0, l.find(' ')) != fp)
      out.push_back(l);
  }
  out.push_back(value.empty() ? fp : fp + " " + value);
  return save_lines(keeper, key, out);
}

/// Removes the line of `fp`, if any.
Result<void> forget(store::CredentialKeeper& keeper, const store::CredentialKey& key,
                    const std::string& fp) {
  HSMCTL_TRY_ASSIGN(auto lines, load_lines(keeper, key));
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.substr(0, l.find(' ')) != fp)
      out.push_back(l);
  }
  if (out.size() == lines.size())
    return {};
  return save_lines(keeper, key, out);
}

// Two-phase lockout records: "<fp> unknown" is written BEFORE a value is sent and resolved
// afterwards; a value whose outcome is not proven stays "unknown" and blocks later plans.
const char kUnknown[] = "unknown";
const char kNoStoreRefusal[] =
    "--store none keeps no record of rejected values; hsmctl sends Primus credentials only "
    "with a credential store";
const char kAmbiguous[] = "ambiguous-0x80005017";

/// Codes ppin reports before any credential is checked (configuration, files, network), or
/// HSM answers that say nothing about the value: the value was not spent.
bool is_definite_non_credential(std::uint32_t code) {
  switch (code) {
    case 0x80005001:
    case 0x80005002:
    case 0x80005003:
    case 0x80005004:
    case 0x80005005:
    case 0x80005006:
    case 0x80005007:
    case 0x80005009:
    case 0x80005011:
    case 0x80005012:
    case 0x80005013:
    case 0x80005015:
    case 0x80005019:
    case 0x8000003B:
    case 0x80000018:
    case 0x80000069:
      return true;
    default:
      return false;
  }
}

long long now_of(const EngineOptions& o) {
  return o.now ? *o.now : static_cast<long long>(std::time(nullptr));
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// A private temporary directory, removed with its files by the destructor.
class TempDir {
 public:
  static Result<TempDir> create() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base ? base : "/tmp") + "/hsmctl-primus-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return make_error(Errc::kIo, std::string("mkdtemp: ") + std::strerror(errno));
    }
    return TempDir(tmpl);
  }
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)), files_(std::move(o.files_)) {
    o.path_.clear();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    if (path_.empty())
      return;
    for (const auto& f : files_)
      ::unlink(f.c_str());
    ::rmdir(path_.c_str());
  }
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
  std::vector<std::string> files_;
};

/// Removes the listed files when it goes out of scope (staging copies next to .secrets.cfg).
struct Cleanup {
  std::vector<std::string> files;
  Cleanup() = default;
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() {
    for (const auto& f : files)
      ::unlink(f.c_str());
  }
};

/// ppin refused to work without the live .secrets.cfg (0x80005004 on the staged copy, which
/// exists only when the live file does): name the file and the manifest field instead of leaving
/// the operator with the bare code. Returns `e` unchanged in every other case.
Error explain_missing_secrets(const PreparedCluster& pc, std::optional<std::uint32_t> code,
                              Error e) {
  if (code != 0x80005004u)
    return e;
  auto live = stat_file(pc.cluster.secrets_path);
  if (!live || live->exists)
    return e;
  e.code = Errc::kIo;
  e.message += "; this ppin needs " + pc.cluster.secrets_path +
               " to exist before it adds an entry, and it does not: set "
               "spec.client.createSecretsFile: true in PrimusCluster '" +
               pc.cluster.name +
               "' so apply creates it empty (mode 0600) first, or create it yourself (empty, "
               "mode 0600); the live files are unchanged";
  return e;
}

// ----- prepare -----

struct Resolution {
  std::optional<Secret> value;
  std::string problem;
};

Resolution resolve_ref(const std::optional<model::SecretRef>& ref, const std::string& field,
                       store::CredentialKeeper& keeper) {
  Resolution r;
  if (!ref) {
    r.problem = "no reference in the manifest (" + field + ")";
    return r;
  }
  auto res = secrets::resolve(*ref, field, keeper, store::CredentialKey{"", field});
  if (!res) {
    r.problem = res.error().message;
  } else if (!res->value) {
    r.problem = ref->display() + " has no value";
  } else {
    r.value = std::move(res->value);
  }
  return r;
}

Result<PreparedCluster> prepare_one(const PrimusCluster& cluster,
                                    const std::vector<PrimusPartition>& all,
                                    store::CredentialKeeper& keeper, const EngineOptions& options) {
  PreparedCluster pc;
  pc.cluster = cluster;
  const std::vector<const PrimusPartition*> parts = partitions_of(cluster, all);
  for (const PrimusPartition* p : parts)
    pc.partitions.push_back(*p);
  pc.options = options;
  pc.now = now_of(options);
  pc.desired_config = render_config(cluster, parts);
  ObservedCluster& o = pc.observed;
  HSMCTL_TRY_ASSIGN(o.desired_config, parse_config(pc.desired_config, "(desired primus.cfg)"));
  HSMCTL_TRY_ASSIGN(o.config_file, stat_file(cluster.config_path));
  HSMCTL_TRY_ASSIGN(o.secrets_file, stat_file(cluster.secrets_path));
  if (o.config_file.exists) {
    HSMCTL_TRY_ASSIGN(Bytes text, read_file(cluster.config_path));
    auto parsed =
        parse_config(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                     cluster.config_path);
    if (parsed) {
      o.live_config = std::move(*parsed);
    } else {
      o.config_error = parsed.error().to_string();
    }
  }

  const Ppin ppin(options.ppin_program, options.timeout_seconds);
  auto version = ppin.version();
  if (!version) {
    if (version.error().code == Errc::kUnavailable)
      return tl::unexpected(version.error());
    o.version_error = version.error().message;
  } else {
    o.provider_version = *version;
  }

  // ppin -l against the desired primus.cfg: the state each desired user will have once the
  // configuration is written. Read-only for .secrets.cfg.
  HSMCTL_TRY_ASSIGN(TempDir tmp, TempDir::create());
  const std::string tmp_cfg = tmp.file("primus.cfg");
  HSMCTL_TRY(write_file_atomically(tmp_cfg, bytes_of(pc.desired_config), 0600));
  if (!o.secrets_file.exists) {
    o.listing = Listing{};
  } else {
    auto listing = ppin.list({tmp_cfg, cluster.secrets_path});
    if (listing) {
      o.listing = std::move(*listing);
    } else {
      o.listing_error = listing.error().message;
    }
  }

  HSMCTL_TRY_ASSIGN(auto fp_key, fingerprint_key(keeper, false));
  auto fp = [&](const Secret& v) { return fp_key ? fingerprint(*fp_key, v) : std::string(); };

  // Service proxy.
  if (cluster.service_proxy && cluster.service_proxy->present) {
    const std::string& pu = cluster.service_proxy->user;
    const bool configured = o.listing && o.listing->proxy_configured(pu).value_or(false);
    std::vector<std::string> last_set;
    if (fp_key) {
      HSMCTL_TRY_ASSIGN(last_set,
                        load_lines(keeper, proxy_key(cluster.name, pu, "proxy-password-set")));
    }
    // Configured: resolved only when hsmctl set it before, to notice a rotation.
    if (!configured || !last_set.empty()) {
      Resolution r =
          resolve_ref(cluster.service_proxy->password, "spec.serviceProxy.password", keeper);
      pc.proxy_facts.available = r.value.has_value();
      pc.proxy_facts.problem = r.problem;
      if (r.value && fp_key) {
        const std::string f = fp(*r.value);
        if (configured)
          pc.proxy_facts.rotated = last_set.front() != f;
        HSMCTL_TRY_ASSIGN(
            auto rej, load_lines(keeper, proxy_key(cluster.name, pu, "proxy-password-rejected")));
        const auto rec = lookup(rej, f);
        pc.proxy_facts.outcome_unknown = rec && *rec == kUnknown;
        pc.proxy_facts.rejected = rec && *rec != kUnknown;
        if (rec && options.retry_rejected && (!configured || pc.proxy_facts.rotated)) {
          pc.proxy_facts.rejected = false;
          pc.proxy_facts.outcome_unknown = false;
          o.notes.push_back("retrying the proxy password rejected before (operator override)");
        }
      }
      if (configured && !pc.proxy_facts.rotated)
        r.value.reset();
      pc.proxy_password = std::move(r.value);
    }
  }

  // Partitions: resolve only what a fetch or refresh could need.
  for (const PrimusPartition* p : parts) {
    PartitionFacts f;
    const auto st = o.listing ? o.listing->user_configured(p->user_name).value_or(false)
                              : std::optional<bool>();
    const bool needs = p->permanent_secret == SecretState::kPresent && st.has_value() &&
                       (!*st || p->refresh == RefreshPolicy::kOnNewSetupPassword);
    if (!needs) {
      pc.facts[p->user_name] = f;
      continue;
    }
    PartitionSecrets values;
    Resolution setup = resolve_ref(p->setup_password, "spec.setupPassword", keeper);
    if (setup.value && !is_setup_password_format(setup.value->view())) {
      setup.problem = (p->setup_password ? p->setup_password->display() : std::string()) +
                      " does not have the setup-password format XXXXX-XXXXX-XXXXX-XXXXX-XXXXX";
      setup.value.reset();
    }
    f.setup_available = setup.value.has_value();
    f.setup_problem = setup.problem;
    if (p->pkcs11_password) {
      Resolution pin = resolve_ref(p->pkcs11_password, "spec.pkcs11Password", keeper);
      f.pkcs11_available = pin.value.has_value();
      f.pkcs11_problem = pin.problem;
      values.pkcs11 = std::move(pin.value);
    } else {
      // No PKCS#11 password on this partition: ppin's prompt is answered with an empty line.
      f.pkcs11_available = true;
      values.pkcs11 = Secret();
    }
    if (fp_key) {
      if (setup.value) {
        const std::string s = fp(*setup.value);
        HSMCTL_TRY_ASSIGN(auto rej, load_lines(keeper, partition_key(cluster.name, p->user_name,
                                                                     "setup-password-rejected")));
        if (auto code = lookup(rej, s)) {
          if (options.retry_rejected) {
            o.notes.push_back("retrying the setup password of '" + p->user_name +
                              "' rejected before (" + *code + ", operator override)");
          } else if (*code == kUnknown) {
            f.setup_outcome_unknown = true;
          } else if (*code == kAmbiguous) {
            f.setup_ambiguous_with_proxy = true;
          } else {
            f.setup_rejected_code =
                static_cast<std::uint32_t>(std::strtoul(code->c_str(), nullptr, 16));
          }
        }
        HSMCTL_TRY_ASSIGN(auto first,
                          load_lines(keeper, partition_key(cluster.name, p->user_name,
                                                           "setup-password-first-use")));
        if (auto t = lookup(first, s))
          f.setup_first_use = std::atoll(t->c_str());
        HSMCTL_TRY_ASSIGN(auto last, load_lines(keeper, partition_key(cluster.name, p->user_name,
                                                                      "fetched-with")));
        f.has_last_fetch = !last.empty();
        f.setup_same_as_last_fetch = f.has_last_fetch && last.front() == s;
      }
      if (values.pkcs11 && !values.pkcs11->empty()) {
        HSMCTL_TRY_ASSIGN(auto rej, load_lines(keeper, partition_key(cluster.name, p->user_name,
                                                                     "pkcs11-password-rejected")));
        const auto rec = lookup(rej, fp(*values.pkcs11));
        f.pkcs11_rejected = rec && *rec != kUnknown;
        f.pkcs11_outcome_unknown = rec && *rec == kUnknown;
        if (rec && options.retry_rejected) {
          f.pkcs11_rejected = false;
          f.pkcs11_outcome_unknown = false;
          o.notes.push_back("retrying the PKCS#11 password of '" + p->user_name +
                            "' rejected before (operator override)");
        }
      }
    }
    values.setup = std::move(setup.value);
    pc.secrets[p->user_name] = std::move(values);
    pc.facts[p->user_name] = f;
  }

  if (options.probe) {
    for (const PrimusPartition* p : parts) {
      if (!o.listing || o.listing->user_configured(p->user_name) != true)
        continue;
      auto t = ppin.test({tmp_cfg, cluster.secrets_path}, p->user_name);
      if (t) {
        o.probes[p->user_name] = std::move(*t);
      } else {
        o.probe_errors[p->user_name] = t.error().message;
      }
    }
  }

  PlanInput in;
  in.cluster = &cluster;
  in.partitions = parts;
  in.observed = &pc.observed;
  in.facts = pc.facts;
  in.proxy = pc.proxy_facts;
  in.now = pc.now;
  in.records_durable = keeper.durable();
  pc.plan = make_plan(in);
  return pc;
}

// ----- execute -----

enum class Expect { kConfigured, kMissing };

struct Mutation {
  const char* what;
  std::function<Result<RunOutput>(const PpinPaths&)> run;
  std::string user;
  bool proxy = false;
  Expect expect = Expect::kConfigured;
};

/// Runs one ppin mutation on copies next to the live .secrets.cfg, verifies the copy with
/// `ppin -l`, then renames it over the live file (keeping .secrets.cfg.bak, except for a
/// removal: a removed secret is kept in no backup). On any failure the live file is untouched
/// and the copies are removed. `*command_ok` is set when the ppin command itself succeeded
/// (the HSM accepted what was sent), whatever happens after.
Result<void> staged_mutation(const PreparedCluster& pc, const Mutation& m, bool* command_ok) {
  const PrimusCluster& c = pc.cluster;
  const Ppin ppin(pc.options.ppin_program, pc.options.timeout_seconds);
  const std::string dir = dir_of(c.secrets_path);
  Cleanup cleanup;
  const std::string stage_secrets = dir + "/.secrets.cfg.hsmctl-stage";
  const std::string stage_cfg = dir + "/.primus.cfg.hsmctl-stage";
  cleanup.files = {stage_secrets, stage_cfg};
  ::unlink(stage_secrets.c_str());
  HSMCTL_TRY(write_file_atomically(stage_cfg, bytes_of(pc.desired_config), 0600));
  auto live = stat_file(c.secrets_path);
  HSMCTL_TRY(live);
  if (live->exists)
    HSMCTL_TRY(copy_file(c.secrets_path, stage_secrets));
  // The stage file must be private BEFORE ppin writes a secret into it. A copy is created 0600;
  // a file ppin creates itself gets at most 0600 (ppin runs under umask 077, see Ppin::run).
  {
    struct stat st {};
    if (::lstat(stage_secrets.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
        return make_error(Errc::kIo, "refusing to stage into " + stage_secrets +
                                         ": not a private regular file of this user");
      }
    } else if (errno != ENOENT) {
      return make_error(Errc::kIo, "cannot stat " + stage_secrets + ": " + std::strerror(errno));
    }
  }
  const PpinPaths paths{stage_cfg, stage_secrets};
  HSMCTL_TRY(m.run(paths));
  if (command_ok != nullptr)
    *command_ok = true;
  HSMCTL_TRY_ASSIGN(Listing listing, ppin.list(paths));
  bool configured = false;
  if (auto v = m.proxy ? listing.proxy_configured(m.user) : listing.user_configured(m.user)) {
    configured = *v;
  }
  const bool want = m.expect == Expect::kConfigured;
  if (configured != want) {
    return make_error(Errc::kDevice, std::string(m.what) + " for '" + m.user +
                                         "': ppin -l does not show the expected state on the "
                                         "staged copy; the live secrets file is unchanged");
  }
  const std::string bak = c.secrets_path + ".bak";
  if (live->exists && m.expect == Expect::kConfigured) {
    HSMCTL_TRY(copy_file(c.secrets_path, bak));
  }
  if (::rename(stage_secrets.c_str(), c.secrets_path.c_str()) != 0) {
    return make_error(Errc::kIo, "cannot rename staged secrets file over " + c.secrets_path + ": " +
                                     std::strerror(errno));
  }
  if (m.expect == Expect::kMissing && ::unlink(bak.c_str()) != 0 && errno != ENOENT) {
    return make_error(Errc::kIo, "removed, but cannot delete the backup " + bak +
                                     " that still holds it: " + std::strerror(errno));
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return apply_file_mode(c.secrets_path, c.secrets_mode);
}

/// `ppin -l` of the desired users against the live .secrets.cfg, now (under the lock).
Result<Listing> observe_listing(const PreparedCluster& pc) {
  HSMCTL_TRY_ASSIGN(FileFacts sf, stat_file(pc.cluster.secrets_path));
  if (!sf.exists)
    return Listing{};
  HSMCTL_TRY_ASSIGN(TempDir tmp, TempDir::create());
  const std::string cfg = tmp.file("primus.cfg");
  HSMCTL_TRY(write_file_atomically(cfg, bytes_of(pc.desired_config), 0600));
  const Ppin ppin(pc.options.ppin_program, pc.options.timeout_seconds);
  return ppin.list({cfg, pc.cluster.secrets_path});
}

}  // namespace

store::CredentialKey partition_key(const std::string& cluster, const std::string& user,
                                   const char* name) {
  return {"primus:" + cluster + "/" + user, name};
}

store::CredentialKey proxy_key(const std::string& cluster, const std::string& proxy_user,
                               const char* name) {
  return {"primus-proxy:" + cluster + "/" + proxy_user, name};
}

Result<std::vector<PreparedCluster>> prepare(const std::vector<PrimusCluster>& clusters,
                                             const std::vector<PrimusPartition>& partitions,
                                             store::CredentialKeeper& keeper,
                                             const EngineOptions& options) {
  auto problems = validate(clusters, partitions);
  if (!problems.empty()) {
    std::string msg;
    for (const auto& e : problems)
      msg += (msg.empty() ? "" : "; ") + e.to_string();
    return make_error(Errc::kManifest, msg);
  }
  std::vector<PreparedCluster> out;
  for (const auto& c : clusters) {
    HSMCTL_TRY_ASSIGN(PreparedCluster pc, prepare_one(c, partitions, keeper, options));
    out.push_back(std::move(pc));
  }
  return out;
}

Result<void> check_guards(const PreparedCluster& prepared, const ApplyOptions& options) {
  if (options.allow_destructive)
    return {};
  for (const auto& a : prepared.plan.plan.actions) {
    if (a.action_class == plan::ActionClass::kDestroy) {
      return make_error(Errc::kRefused, "refusing to " + a.summary +
                                            " without --allow-destructive (" + a.reason + ")");
    }
  }
  return {};
}

namespace {

/// A fetch or refresh in progress: the fingerprints and store entries it records.
struct FetchRecords {
  std::string setup_fp;
  std::string pin_fp;  ///< empty when the PKCS#11 password is empty
  store::CredentialKey rejected;
  store::CredentialKey pin_rejected;
  store::CredentialKey first_use;
  bool first_recorded_now = false;
};

/// One execute() of a cluster: the plan's actions in order, under the lock of .secrets.cfg. Each
/// step works on its action's payload (a Step) and what prepare() resolved.
class ClusterExecutor {
 public:
  ClusterExecutor(PreparedCluster& pc, store::CredentialKeeper& keeper, const Progress& progress)
      : pc_(pc),
        c_(pc.cluster),
        keeper_(keeper),
        progress_(progress),
        ppin_(pc.options.ppin_program, pc.options.timeout_seconds) {}

  Result<ApplyReport> run();

 private:
  void say(const std::string& s) const {
    if (progress_)
      progress_(s);
  }
  Result<void> begin();
  bool state_now(const std::string& kind_name, const Step& step) const {
    return (step.proxy || kind_name == kind::kSetProxyPassword)
               ? now_listing_.proxy_configured(step.target).value_or(false)
               : now_listing_.user_configured(step.target).value_or(false);
  }
  /// Runs one action; false when there was nothing left to do.
  Result<bool> step(const plan::Action& action, const Step& step);
  Result<void> set_proxy_password(const Step& step);
  Result<void> fetch(const Step& step, bool refresh);
  Result<void> check_not_rejected(const Step& step, const FetchRecords& f);
  Result<std::string> record_fetch_outcome(const FetchRecords& f, std::optional<std::uint32_t> code,
                                           bool sent_ok);
  Result<void> remove(const Step& step) {
    Mutation m{step.proxy ? "ppin -x" : "ppin -r",
               [&](const PpinPaths& p) {
                 return step.proxy ? ppin_.remove_proxy(p, step.target)
                                   : ppin_.remove(p, step.target);
               },
               step.target, step.proxy, Expect::kMissing};
    return staged_mutation(pc_, m, nullptr);
  }

  PreparedCluster& pc_;
  const PrimusCluster& c_;
  store::CredentialKeeper& keeper_;
  const Progress& progress_;
  const Ppin ppin_;
  Secret fp_key_;
  Listing now_listing_;
  bool proxy_verified_ = false;  // a ppin -p succeeded in this run
};

Result<void> ClusterExecutor::begin() {
  {
    auto k = fingerprint_key(keeper_, true);
    if (!k)
      return tl::unexpected(k.error());
    if (!k->has_value())
      return make_error(Errc::kInternal, "no fingerprint key");
    fp_key_ = **k;
  }
  // Re-observe under the lock: another apply may have changed .secrets.cfg since prepare().
  auto l = observe_listing(pc_);
  if (!l) {
    Error e = l.error();
    e.message = "re-checking the credential state under the lock: " + e.message;
    return tl::unexpected(e);
  }
  now_listing_ = std::move(*l);
  return {};
}

Result<bool> ClusterExecutor::step(const plan::Action& action, const Step& step) {
  const std::string& k = action.kind;
  if (k == kind::kWriteConfig) {
    HSMCTL_TRY(write_config(c_.config_path, pc_.desired_config, c_.config_mode));
  } else if (k == kind::kCreateSecretsFile) {
    HSMCTL_TRY_ASSIGN(CreateOutcome created, create_empty_secrets_file(step.target));
    if (created == CreateOutcome::kAlreadyExists) {
      say(action.summary + ": " + step.target +
          " exists since the plan (another run?); left untouched");
      return false;
    }
    HSMCTL_TRY(apply_file_mode(step.target, c_.secrets_mode));
  } else if (k == kind::kFixFileMode) {
    HSMCTL_TRY(apply_file_mode(step.target,
                               step.target == c_.config_path ? c_.config_mode : c_.secrets_mode));
  } else if (k == kind::kSetProxyPassword) {
    HSMCTL_TRY(set_proxy_password(step));
  } else if (k == kind::kFetchSecret || k == kind::kRefreshSecret) {
    HSMCTL_TRY(fetch(step, k == kind::kRefreshSecret));
  } else if (k == kind::kRemoveSecret) {
    HSMCTL_TRY(remove(step));
  } else {
    return make_error(Errc::kInternal, "unexpected action " + k);
  }
  return true;
}

Result<void> ClusterExecutor::set_proxy_password(const Step& step) {
  if (!pc_.proxy_password)
    return make_error(Errc::kInternal, "proxy password not resolved");
  if (!keeper_.durable())
    return make_error(Errc::kRefused, kNoStoreRefusal);
  const Secret& pw = *pc_.proxy_password;
  const std::string pw_fp = fingerprint(fp_key_, pw);
  const auto key = proxy_key(c_.name, step.target, "proxy-password");
  const auto rej_key = proxy_key(c_.name, step.target, "proxy-password-rejected");
  HSMCTL_TRY_ASSIGN(auto rejected, load_lines(keeper_, rej_key));
  if (lookup(rejected, pw_fp) && !pc_.options.retry_rejected) {
    return make_error(Errc::kRefused, "the proxy password for '" + step.target +
                                          "' was rejected before or its outcome is "
                                          "unknown; not trying it again");
  }
  HSMCTL_TRY(keeper_.stage(key, pw));
  HSMCTL_TRY(set_line(keeper_, rej_key, pw_fp, kUnknown));  // phase one, before sending
  Mutation m{"ppin -p", [&](const PpinPaths& p) { return ppin_.set_proxy(p, step.target, pw); },
             step.target, true, Expect::kConfigured};
  bool sent_ok = false;
  auto r = staged_mutation(pc_, m, &sent_ok);
  std::optional<std::uint32_t> code;
  if (!r)
    code = r.error().vendor_code();
  if (sent_ok) {
    HSMCTL_TRY(forget(keeper_, rej_key, pw_fp));
  } else if (code && is_credential_failure(*code)) {
    HSMCTL_TRY(set_line(keeper_, rej_key, pw_fp, code_hex(*code)));
  } else if (code && is_definite_non_credential(*code)) {
    HSMCTL_TRY(forget(keeper_, rej_key, pw_fp));
  }
  if (!r) {
    if (code)
      HSMCTL_TRY(keeper_.discard(key));
    Error e = explain_missing_secrets(pc_, code, r.error());
    if (!sent_ok && !(code && is_definite_non_credential(*code))) {
      e.message += code ? "; stopped without retrying (lockout safety), recorded so the next "
                          "run does not send this value again"
                        : "; the outcome is unknown: recorded as possibly rejected, not sent "
                          "again until --retry-rejected";
    }
    return tl::unexpected(e);
  }
  HSMCTL_TRY(keeper_.commit(key));
  HSMCTL_TRY(save_lines(keeper_, proxy_key(c_.name, step.target, "proxy-password-set"), {pw_fp}));
  proxy_verified_ = true;
  return {};
}

// Plan said otherwise only if the store changed since prepare(): never send such a value.
Result<void> ClusterExecutor::check_not_rejected(const Step& step, const FetchRecords& f) {
  HSMCTL_TRY_ASSIGN(auto rejected, load_lines(keeper_, f.rejected));
  if (auto rec = lookup(rejected, f.setup_fp);
      rec && !pc_.options.retry_rejected && !(*rec == kAmbiguous && proxy_verified_)) {
    return make_error(Errc::kRefused, "the setup password for '" + step.target +
                                          "' was rejected before or its outcome is "
                                          "unknown; not trying it again");
  }
  if (!f.pin_fp.empty() && !pc_.options.retry_rejected) {
    HSMCTL_TRY_ASSIGN(auto pin_rejected, load_lines(keeper_, f.pin_rejected));
    if (lookup(pin_rejected, f.pin_fp)) {
      return make_error(Errc::kRefused, "the PKCS#11 password for '" + step.target +
                                            "' was rejected before or its outcome is "
                                            "unknown; not trying it again");
    }
  }
  return {};
}

Result<void> ClusterExecutor::fetch(const Step& step, bool refresh) {
  if (!keeper_.durable())
    return make_error(Errc::kRefused, kNoStoreRefusal);
  auto sit = pc_.secrets.find(step.target);
  if (sit == pc_.secrets.end() || !sit->second.setup || !sit->second.pkcs11) {
    return make_error(Errc::kInternal, "credentials of '" + step.target + "' not resolved");
  }
  const Secret& setup = *sit->second.setup;
  const Secret& pin = *sit->second.pkcs11;
  if (!is_setup_password_format(setup.view())) {
    return make_error(Errc::kSecret,
                      "setup password for '" + step.target +
                          "' does not have the format XXXXX-XXXXX-XXXXX-XXXXX-XXXXX");
  }
  FetchRecords f{fingerprint(fp_key_, setup),
                 pin.empty() ? std::string() : fingerprint(fp_key_, pin),
                 partition_key(c_.name, step.target, "setup-password-rejected"),
                 partition_key(c_.name, step.target, "pkcs11-password-rejected"),
                 partition_key(c_.name, step.target, "setup-password-first-use")};
  HSMCTL_TRY(check_not_rejected(step, f));
  // The HSM starts the validity window at first use: record it before sending.
  HSMCTL_TRY_ASSIGN(auto first, load_lines(keeper_, f.first_use));
  f.first_recorded_now = !lookup(first, f.setup_fp).has_value();
  HSMCTL_TRY(remember(keeper_, f.first_use, f.setup_fp, std::to_string(pc_.now)));
  const auto setup_key = partition_key(c_.name, step.target, "setup-password");
  const auto pin_key = partition_key(c_.name, step.target, "pkcs11-password");
  HSMCTL_TRY(keeper_.stage(setup_key, setup));
  if (!pin.empty())
    HSMCTL_TRY(keeper_.stage(pin_key, pin));
  // Phase one of the lockout record: both values count as possibly rejected until the
  // outcome is proven.
  HSMCTL_TRY(set_line(keeper_, f.rejected, f.setup_fp, kUnknown));
  if (!pin.empty())
    HSMCTL_TRY(set_line(keeper_, f.pin_rejected, f.pin_fp, kUnknown));
  Mutation m{refresh ? "ppin -u" : "ppin -a",
             [&](const PpinPaths& p) {
               return refresh ? ppin_.update(p, step.target, setup, pin)
                              : ppin_.add(p, step.target, setup, pin);
             },
             step.target, false, Expect::kConfigured};
  bool sent_ok = false;
  auto r = staged_mutation(pc_, m, &sent_ok);
  std::optional<std::uint32_t> code;
  if (!r)
    code = r.error().vendor_code();
  HSMCTL_TRY_ASSIGN(std::string outcome, record_fetch_outcome(f, code, sent_ok));
  if (!r) {
    if (code) {
      // A definite answer: nothing was stored on the host.
      HSMCTL_TRY(keeper_.discard(setup_key));
      if (!pin.empty())
        HSMCTL_TRY(keeper_.discard(pin_key));
    }
    Error e = explain_missing_secrets(pc_, code, r.error());
    e.message += outcome;
    return tl::unexpected(e);
  }
  HSMCTL_TRY(keeper_.commit(setup_key));
  if (!pin.empty())
    HSMCTL_TRY(keeper_.commit(pin_key));
  return save_lines(keeper_, partition_key(c_.name, step.target, "fetched-with"), {f.setup_fp});
}

/// Resolves the lockout records of a fetch by its outcome; returns what was recorded, for the
/// error message.
Result<std::string> ClusterExecutor::record_fetch_outcome(const FetchRecords& f,
                                                          std::optional<std::uint32_t> code,
                                                          bool sent_ok) {
  const bool has_pin = !f.pin_fp.empty();
  const bool behind_proxy = c_.service_proxy && c_.service_proxy->present;
  const char* const kRecorded =
      "; stopped without retrying (lockout safety), recorded so the next run "
      "does not send this value again";
  if (sent_ok) {
    HSMCTL_TRY(forget(keeper_, f.rejected, f.setup_fp));
    if (has_pin)
      HSMCTL_TRY(forget(keeper_, f.pin_rejected, f.pin_fp));
    return std::string();
  }
  if (code && *code == kSetupLoginFailed && behind_proxy && !proxy_verified_) {
    HSMCTL_TRY(set_line(keeper_, f.rejected, f.setup_fp, kAmbiguous));
    if (has_pin)
      HSMCTL_TRY(forget(keeper_, f.pin_rejected, f.pin_fp));
    return std::string(
        "; behind the service proxy, whose password was not verified in this run, "
        "0x80005017 may mean a refused proxy password as well as a wrong setup "
        "password: check the proxy password first; recorded so the next run does "
        "not send this setup password again");
  }
  if (code && (*code == kSetupLoginFailed || *code == kSetupPasswordExpired ||
               *code == kPasswordExpired || *code == kUserNotFound)) {
    HSMCTL_TRY(set_line(keeper_, f.rejected, f.setup_fp, code_hex(*code)));
    if (has_pin)
      HSMCTL_TRY(forget(keeper_, f.pin_rejected, f.pin_fp));
    return std::string(kRecorded);
  }
  if (code && *code == kWrongPkcs11Pin) {
    HSMCTL_TRY(forget(keeper_, f.rejected, f.setup_fp));
    if (has_pin)
      HSMCTL_TRY(set_line(keeper_, f.pin_rejected, f.pin_fp, code_hex(*code)));
    return std::string(kRecorded);
  }
  if (code && is_definite_non_credential(*code)) {
    // Nothing was spent: the values are not suspects, the window did not start.
    HSMCTL_TRY(forget(keeper_, f.rejected, f.setup_fp));
    if (has_pin)
      HSMCTL_TRY(forget(keeper_, f.pin_rejected, f.pin_fp));
    if (f.first_recorded_now)
      HSMCTL_TRY(forget(keeper_, f.first_use, f.setup_fp));
    return std::string();
  }
  return std::string(
      "; the outcome is unknown (no documented code): the values count as "
      "possibly rejected and are not sent again until --retry-rejected");
}

Result<ApplyReport> ClusterExecutor::run() {
  ApplyReport report;
  HSMCTL_TRY_ASSIGN(FileLock lock, FileLock::acquire(c_.secrets_path + ".lock"));
  HSMCTL_TRY(begin());
  const auto& actions = pc_.plan.plan.actions;
  for (const plan::Action& action : actions) {
    if (action.kind != plan::kind::kBlocked)
      ++report.steps_total;
  }
  for (const plan::Action& action : actions) {
    if (action.kind == plan::kind::kBlocked) {
      ++report.steps_blocked;
      say(action.summary + ": blocked (" + action.reason + ")");
      continue;
    }
    const Step* step = std::any_cast<Step>(&action.payload);
    if (step == nullptr) {
      return make_error(Errc::kInternal, "action \"" + action.summary + "\" (" + action.kind +
                                             ") does not carry what apply needs to run it");
    }
    // A stop request (SIGINT/SIGTERM) is honoured between steps only: the previous ppin run,
    // its verification, rename and store records are complete; this step has not started.
    if (report.interrupted_by == 0)
      report.interrupted_by = stop_signal();
    if (report.interrupted_by != 0) {
      report.not_started.push_back(action.summary);
      continue;
    }
    // Steps whose goal was reached since the plan (a concurrent apply) are skipped; a refresh
    // of an entry that disappeared is refused (plan again).
    const bool creates =
        action.action_class == plan::ActionClass::kCreate &&
        (action.kind == kind::kFetchSecret || action.kind == kind::kSetProxyPassword);
    if ((creates && state_now(action.kind, *step)) ||
        (action.kind == kind::kRemoveSecret && !state_now(action.kind, *step))) {
      say(action.summary + ": already done since the plan (another run?); skipped");
      continue;
    }
    if (action.kind == kind::kRefreshSecret && !state_now(action.kind, *step)) {
      return make_error(Errc::kRefused, "the permanent secret of '" + step->target +
                                            "' disappeared since the plan; run plan again");
    }
    HSMCTL_TRY_ASSIGN(bool done, this->step(action, *step));
    if (!done)
      continue;
    ++report.steps_done;
    say(action.summary + ": done");
  }
  return report;
}

}  // namespace

Result<ApplyReport> execute(PreparedCluster& pc, const ApplyOptions& options,
                            store::CredentialKeeper& keeper, const Progress& progress) {
  HSMCTL_TRY(check_guards(pc, options));
  ClusterExecutor executor(pc, keeper, progress);
  return executor.run();
}

}  // namespace hsmctl::families::primus
